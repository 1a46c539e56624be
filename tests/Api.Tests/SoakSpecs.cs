using System.Collections.Concurrent;
using System.Net;
using System.Text.Json.Nodes;
using Ledger.Host.Cli;
using Shouldly;
using Xunit;

namespace Ledger.Api.Tests;

/// <summary>
/// A bounded soak: charges, replays, refunds and rebuilds at once, then an audit. 30 s by default;
/// LEDGER_SOAK_SECONDS=600 make test for a longer one.
/// </summary>
public sealed class SoakSpecs(LedgerApp app) : IClassFixture<LedgerApp>
{
    private static TimeSpan Duration => TimeSpan.FromSeconds(
        int.TryParse(Environment.GetEnvironmentVariable("LEDGER_SOAK_SECONDS"), out var s) && s > 0 ? s : 30);

    [Fact]
    public async Task Charges_replays_refunds_and_rebuilds_together_end_with_a_clean_audit_and_balanced_books()
    {
        using var stop = new CancellationTokenSource(Duration);
        var answered = new ConcurrentBag<(string Key, JsonObject Body, string Answer)>();
        var problems = new ConcurrentBag<string>();
        long charges = 0, replays = 0, refundAttempts = 0, refunds = 0, refundedAmount = 0, rebuilds = 0;

        var workers = Enumerable.Range(0, 6).Select(w => Task.Run(async () =>
        {
            var random = new Random(w);
            var client = app.Client(w % 2 == 0 ? LedgerApp.Acme : LedgerApp.Globex);
            while (!stop.IsCancellationRequested)
            {
                var roll = random.Next(10);
                if (roll < 5 || answered.IsEmpty)
                {
                    var (key, body) = (Requests.NewKey(), Requests.Charge(amount: random.Next(100, 5000), currency: random.Next(3) == 0 ? "EUR" : "USD",
                        card: random.Next(8) == 0 ? "4000000000009995" : Requests.GoodCard));
                    var response = await client.PostJson("/v1/payments", body, key);
                    if (response.StatusCode != HttpStatusCode.Created) problems.Add($"charge: {(int)response.StatusCode}");
                    answered.Add((key, body, await response.Content.ReadAsStringAsync()));
                    Interlocked.Increment(ref charges);
                }
                else if (roll < 7)
                {
                    var (key, body, answer) = answered.ElementAt(random.Next(answered.Count));
                    var owner = JsonNode.Parse(answer)!["merchantId"]!.GetValue<string>() == "acme" ? LedgerApp.Acme : LedgerApp.Globex;
                    var replay = await app.Client(owner).PostJson("/v1/payments", body, key);
                    if (await replay.Content.ReadAsStringAsync() != answer) problems.Add($"replay of {key} differs");
                    Interlocked.Increment(ref replays);
                }
                else
                {
                    var (_, _, answer) = answered.ElementAt(random.Next(answered.Count));
                    var payment = JsonNode.Parse(answer)!;
                    var owner = payment["merchantId"]!.GetValue<string>() == "acme" ? LedgerApp.Acme : LedgerApp.Globex;
                    var amount = random.Next(1, 2000);
                    var refund = await app.Client(owner).PostJson($"/v1/payments/{payment["id"]}/refunds",
                        new JsonObject { ["amount"] = amount }, Requests.NewKey());
                    // 409 (payment failed, or a racing refund) and 422 (more than remains) are right answers; only a 201 is a refund.
                    if (refund.StatusCode is not (HttpStatusCode.Created or HttpStatusCode.Conflict or HttpStatusCode.UnprocessableEntity))
                        problems.Add($"refund: {(int)refund.StatusCode}");
                    Interlocked.Increment(ref refundAttempts);
                    if (refund.StatusCode == HttpStatusCode.Created)
                    {
                        Interlocked.Increment(ref refunds);
                        Interlocked.Add(ref refundedAmount, amount);
                    }
                }
            }
        })).ToList();
        var rebuilder = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                var (exit, output) = await Cli.Run(app, "projections", "rebuild");
                if (exit != ExitCodes.Ok) problems.Add($"rebuild: {output}");
                Interlocked.Increment(ref rebuilds);
            }
        });
        await Task.WhenAll([.. workers, rebuilder]);

        problems.ShouldBeEmpty();
        var (audit, report) = await Cli.Run(app, "audit", "verify");
        audit.ShouldBe(ExitCodes.Ok, report);
        (await app.Database.ScalarAsync<long>(
            "select count(*) from (select currency from ledger_entries group by currency having sum(debit) <> sum(credit)) unbalanced")).ShouldBe(0);
        // What was stored is exactly what was answered 201: no refund lost to a rebuild, none doubled.
        (await app.Database.ScalarAsync<long>("select count(*) from ledger.events where type = 'payment_refunded'")).ShouldBe(refunds);
        (await app.Database.ScalarAsync<long>("select coalesce(sum(amount_refunded), 0)::bigint from payment_views")).ShouldBe(refundedAmount);
        (await app.Database.ScalarAsync<long>("select count(*) from payment_views")).ShouldBe(charges);
        TestContext.Current.TestOutputHelper?.WriteLine(
            $"soak {Duration.TotalSeconds:F0} s: {charges} charges, {replays} replays (all identical), {refunds} refunds answered 201 of {refundAttempts} attempts, {rebuilds} rebuilds; audit clean, books balanced");
    }
}
