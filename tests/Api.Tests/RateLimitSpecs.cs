using System.Net;
using Shouldly;
using Xunit;

namespace Ledger.Api.Tests;

public sealed class TightlyLimitedApp : LedgerApp
{
    protected override IEnumerable<KeyValuePair<string, string>> Settings =>
        [new("Ledger:RateLimit:PermitsPerSecond", "1"), new("Ledger:RateLimit:Burst", "3")];
}

public sealed class RateLimitSpecs(TightlyLimitedApp app) : IClassFixture<TightlyLimitedApp>
{
    [Fact]
    public async Task A_key_over_its_limit_gets_429_problem_with_Retry_After_and_other_keys_are_unaffected()
    {
        var acme = app.Client(LedgerApp.Acme);
        var statuses = new List<HttpStatusCode>();
        HttpResponseMessage? limited = null;
        for (var i = 0; i < 6; i++)
        {
            var response = await acme.GetAsync("/v1/payments");
            statuses.Add(response.StatusCode);
            if (response.StatusCode == HttpStatusCode.TooManyRequests) limited = response;
        }

        statuses.Take(3).ShouldAllBe(s => s == HttpStatusCode.OK);
        limited.ShouldNotBeNull();
        await IdempotencySpecs.ShouldBeProblem(limited, HttpStatusCode.TooManyRequests, "rate_limited");
        limited.Headers.RetryAfter!.Delta!.Value.TotalSeconds.ShouldBeGreaterThanOrEqualTo(1);
        (await app.Client(LedgerApp.Auditor).GetAsync("/v1/payments")).StatusCode.ShouldBe(HttpStatusCode.OK); // its own bucket
        (await app.Client(null).GetAsync("/health/ready")).StatusCode.ShouldBe(HttpStatusCode.OK); // operations are not limited
    }

    [Fact]
    public async Task A_rate_limited_charge_is_not_remembered_and_writes_nothing()
    {
        var globex = app.Client(LedgerApp.Globex);
        var drained = false;
        for (var i = 0; i < 20 && !drained; i++) drained = (await globex.GetAsync("/v1/metrics")).StatusCode == HttpStatusCode.TooManyRequests;
        drained.ShouldBeTrue();
        var events = await app.Database.ScalarAsync<long>("select count(*) from ledger.events");
        var key = Requests.NewKey();

        var limited = await globex.Charge(Requests.Charge(), key);

        limited.StatusCode.ShouldBe(HttpStatusCode.TooManyRequests);
        (await app.Database.ScalarAsync<long>("select count(*) from ledger.events")).ShouldBe(events);
        (await app.Database.ScalarAsync<long>("select count(*) from idempotency_keys where key = $1", key)).ShouldBe(0);
    }
}

public sealed class ConsoleSignInLimitSpecs(TightlyLimitedApp app) : IClassFixture<TightlyLimitedApp>
{
    [Fact]
    public async Task Sign_in_attempts_from_one_address_are_limited_like_unauthenticated_calls_and_a_refused_one_opens_no_session()
    {
        var visitor = new ConsoleVisitor(app.Client(null));
        var statuses = new List<HttpStatusCode>();
        for (var i = 0; i < 6; i++) statuses.Add((await visitor.SignInAsync($"sk_guess_{i:D8}")).StatusCode);

        statuses.Take(3).ShouldAllBe(s => s == HttpStatusCode.Unauthorized);
        statuses.ShouldContain(HttpStatusCode.TooManyRequests);
        // The right key, but too soon after a refusal. (The bucket refills once a second: should that land between the
        // two, drain it again and retry.)
        HttpResponseMessage limited = null!;
        for (var tries = 0; tries < 5; tries++)
        {
            while ((await visitor.SignInAsync("sk_guess_00000000")).StatusCode != HttpStatusCode.TooManyRequests) { }
            limited = await visitor.SignInAsync(LedgerApp.Acme);
            if (limited.StatusCode == HttpStatusCode.TooManyRequests) break;
            visitor = new ConsoleVisitor(app.Client(null));
            await app.Database.ExecuteAsync("delete from console_sessions");
        }
        limited.StatusCode.ShouldBe(HttpStatusCode.TooManyRequests);
        limited.Headers.RetryAfter!.Delta!.Value.TotalSeconds.ShouldBeGreaterThanOrEqualTo(1);
        visitor.LastBody.ShouldContain("Too many sign-in attempts");
        visitor.Cookie("ledger_console").ShouldBeNull();
        (await app.Database.ScalarAsync<long>("select count(*) from console_sessions")).ShouldBe(0);
        // Reading pages is not limited: the form itself still loads.
        (await visitor.GetAsync("/console/sign-in")).StatusCode.ShouldBe(HttpStatusCode.OK);
    }
}
