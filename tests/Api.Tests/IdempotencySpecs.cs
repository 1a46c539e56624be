using System.Net;
using System.Text.Json.Nodes;
using Shouldly;
using Xunit;

namespace Ledger.Api.Tests;

public sealed class IdempotencySpecs(LedgerApp app) : IClassFixture<LedgerApp>
{
    private readonly HttpClient _acme = app.Client(LedgerApp.Acme);
    private readonly HttpClient _globex = app.Client(LedgerApp.Globex);

    [Fact]
    public async Task A_charge_without_an_Idempotency_Key_is_400_and_writes_nothing()
    {
        var before = await EventCount();
        var response = await _acme.PostJson("/v1/payments", Requests.Charge());

        await ShouldBeProblem(response, HttpStatusCode.BadRequest, "idempotency_key_missing");
        (await EventCount()).ShouldBe(before);
    }

    [Theory]
    [InlineData("")]
    [InlineData("has\u00e9accent")]
    [InlineData("\"unterminated")]
    [InlineData("\"bad\\escape\"")]
    [InlineData("tab\there")]
    [InlineData(" leading-space")]
    public async Task A_malformed_Idempotency_Key_is_400(string key)
    {
        var response = await _acme.PostJson("/v1/payments", Requests.Charge(), key);

        var expected = key.Length == 0 ? "idempotency_key_missing" : "idempotency_key_invalid";
        await ShouldBeProblem(response, HttpStatusCode.BadRequest, expected);
    }

    [Fact]
    public async Task A_key_longer_than_255_characters_is_400()
    {
        var response = await _acme.PostJson("/v1/payments", Requests.Charge(), new string('k', 256));
        await ShouldBeProblem(response, HttpStatusCode.BadRequest, "idempotency_key_invalid");

        var longest = await _acme.PostJson("/v1/payments", Requests.Charge(), new string('k', 255));
        longest.StatusCode.ShouldBe(HttpStatusCode.Created);
    }

    [Fact]
    public async Task The_key_header_sent_twice_is_400()
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/payments") { Content = JsonContent(Requests.Charge()) };
        request.Headers.TryAddWithoutValidation("Idempotency-Key", [Requests.NewKey(), Requests.NewKey()]).ShouldBeTrue();

        await ShouldBeProblem(await _acme.SendAsync(request), HttpStatusCode.BadRequest, "idempotency_key_invalid");
    }

    [Theory]
    [InlineData("k")]                               // the shortest
    [InlineData("a b")]                             // a space inside is printable
    [InlineData("~tilde~")]                         // the last printable character
    [InlineData("!#$%&'()*+,-./:;<=>?@[]^_`{|}")]   // every other kind of printable ASCII
    public async Task Any_printable_ASCII_key_from_1_to_255_characters_is_accepted(string stem)
    {
        var key = stem.Length == 1 ? stem : $"{stem}{Guid.NewGuid():N}"; // one letter alone: this class's database is its own

        var response = await _acme.PostJson("/v1/payments", Requests.Charge(), key);

        response.StatusCode.ShouldBe(HttpStatusCode.Created);
        (await app.Database.ScalarAsync<long>("select count(*) from idempotency_keys where key = $1", key)).ShouldBe(1);
    }

    [Fact]
    public async Task A_quoted_key_may_escape_a_quote_and_a_backslash_and_is_the_same_as_the_bare_key()
    {
        var id = Guid.NewGuid().ToString("N");
        var first = await _acme.PostJson("/v1/payments", Requests.Charge(), $"\"k\\\"q\\\\b-{id}\""); // "k\"q\\b-..." on the wire

        first.StatusCode.ShouldBe(HttpStatusCode.Created);
        var bare = await _acme.PostJson("/v1/payments", Requests.Charge(), $"k\"q\\b-{id}");
        bare.Headers.GetValues("Idempotent-Replayed").Single().ShouldBe("true");
        (await bare.Content.ReadAsStringAsync()).ShouldBe(await first.Content.ReadAsStringAsync());
    }

    [Theory]
    [InlineData("\"ends-in-an-escape\\\"")] // the closing quote is escaped: the string never ends
    [InlineData("\"\"")]                     // a quoted empty key
    [InlineData("\"")]                       // a lone quote
    public async Task A_broken_quoted_key_is_400(string key)
    {
        var response = await _acme.PostJson("/v1/payments", Requests.Charge(), key);

        await ShouldBeProblem(response, HttpStatusCode.BadRequest, "idempotency_key_invalid");
    }

    [Fact]
    public async Task A_replay_answers_with_the_same_Location_and_media_type_as_the_first_answer()
    {
        var key = Requests.NewKey();
        var first = await _acme.PostJson("/v1/payments", Requests.Charge(), key);

        var replay = await _acme.PostJson("/v1/payments", Requests.Charge(), key);

        replay.Headers.Location.ShouldNotBeNull();
        replay.Headers.Location.ShouldBe(first.Headers.Location);
        replay.Content.Headers.ContentType!.MediaType.ShouldBe("application/json");
        var reused = await _acme.PostJson("/v1/payments", Requests.Charge(amount: 1), key);
        reused.Content.Headers.ContentType!.MediaType.ShouldBe("application/problem+json");
    }

    private static StringContent JsonContent(System.Text.Json.Nodes.JsonNode body) =>
        new(body.ToJsonString(), System.Text.Encoding.UTF8, "application/json");

    [Fact]
    public async Task The_quoted_form_of_a_key_is_the_same_key()
    {
        var key = Requests.NewKey();
        var first = await _acme.PostJson("/v1/payments", Requests.Charge(), key);
        var quoted = await _acme.PostJson("/v1/payments", Requests.Charge(), $"\"{key}\"");

        quoted.StatusCode.ShouldBe(HttpStatusCode.Created);
        quoted.Headers.GetValues("Idempotent-Replayed").Single().ShouldBe("true");
        (await quoted.Content.ReadAsStringAsync()).ShouldBe(await first.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Replaying_a_finished_request_returns_the_same_status_and_body_and_charges_once()
    {
        var key = Requests.NewKey();
        var first = await _acme.Charge(Requests.Charge(), key);
        var firstBody = await first.Content.ReadAsStringAsync();

        var replay = await _acme.Charge(Requests.Charge(), key);

        replay.StatusCode.ShouldBe(HttpStatusCode.Created);
        replay.Headers.GetValues("Idempotent-Replayed").Single().ShouldBe("true");
        replay.Headers.Location.ShouldBe(first.Headers.Location);
        (await replay.Content.ReadAsStringAsync()).ShouldBe(firstBody);
        first.Headers.Contains("Idempotent-Replayed").ShouldBeFalse();
        (await app.Database.ScalarAsync<long>("select count(*) from ledger.events where metadata->>'idempotencyKey' = $1", key)).ShouldBe(2);
    }

    [Fact]
    public async Task A_replayed_decline_is_the_same_decline()
    {
        var key = Requests.NewKey();
        var first = await _acme.Charge(Requests.Charge(card: "4000000000000002"), key);
        var replay = await _acme.Charge(Requests.Charge(card: "4000000000000002"), key);

        replay.StatusCode.ShouldBe(HttpStatusCode.Created);
        (await replay.Content.ReadAsStringAsync()).ShouldBe(await first.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task The_same_body_with_other_whitespace_and_key_order_is_the_same_request()
    {
        var key = Requests.NewKey();
        await _acme.PostRaw("/v1/payments", """{"amount":500,"currency":"EUR","orderId":"o-1","card":{"number":"4242424242424242","expMonth":1,"expYear":2031,"cvc":"999"}}""", key);
        var replay = await _acme.PostRaw("/v1/payments", """
            { "card": { "cvc": "999", "expYear": 2031, "expMonth": 1, "number": "4242424242424242" },
              "orderId": "o-1", "currency": "EUR", "amount": 500 }
            """, key);

        replay.StatusCode.ShouldBe(HttpStatusCode.Created);
        replay.Headers.GetValues("Idempotent-Replayed").Single().ShouldBe("true");
    }

    [Fact]
    public async Task Reusing_a_key_with_a_different_body_is_422_and_charges_nothing_more()
    {
        var key = Requests.NewKey();
        await _acme.Charge(Requests.Charge(amount: 1000), key);
        var before = await EventCount();

        var reused = await _acme.Charge(Requests.Charge(amount: 2000), key);

        await ShouldBeProblem(reused, HttpStatusCode.UnprocessableEntity, "idempotency_key_reused");
        (await EventCount()).ShouldBe(before);
    }

    [Fact]
    public async Task Keys_are_scoped_per_merchant()
    {
        var key = Requests.NewKey();
        var acme = await (await _acme.Charge(Requests.Charge(), key)).Json();
        var globexResponse = await _globex.Charge(Requests.Charge(), key);

        globexResponse.StatusCode.ShouldBe(HttpStatusCode.Created);
        globexResponse.Headers.Contains("Idempotent-Replayed").ShouldBeFalse();
        var globex = await globexResponse.Json();
        globex.Str("id").ShouldNotBe(acme.Str("id"));
        globex.Str("merchantId").ShouldBe("globex");
    }

    [Fact]
    public async Task A_request_refused_by_validation_is_not_remembered()
    {
        var key = Requests.NewKey();
        var invalid = await _acme.Charge(Requests.Charge(amount: 0), key);
        invalid.StatusCode.ShouldBe(HttpStatusCode.BadRequest);

        var valid = await _acme.Charge(Requests.Charge(amount: 100), key);

        valid.StatusCode.ShouldBe(HttpStatusCode.Created);
        valid.Headers.Contains("Idempotent-Replayed").ShouldBeFalse();
    }

    [Fact]
    public async Task A_key_counts_as_new_once_its_retention_has_passed()
    {
        var key = Requests.NewKey();
        var first = await (await _acme.Charge(Requests.Charge(amount: 100), key)).Json();

        app.Clock.Advance(TimeSpan.FromHours(24) + TimeSpan.FromMinutes(1));
        var later = await _acme.Charge(Requests.Charge(amount: 200), key);

        later.StatusCode.ShouldBe(HttpStatusCode.Created);
        later.Headers.Contains("Idempotent-Replayed").ShouldBeFalse();
        var second = await later.Json();
        second.Str("id").ShouldNotBe(first.Str("id"));
        second.GetProperty("amount").GetInt64().ShouldBe(200);
    }

    [Fact]
    public async Task Expired_keys_are_pruned_by_the_sweep()
    {
        var key = Requests.NewKey();
        await _acme.Charge(Requests.Charge(), key);
        app.Clock.Advance(TimeSpan.FromHours(25));

        await app.Sweep();

        (await app.Database.ScalarAsync<long>("select count(*) from idempotency_keys where key = $1", key)).ShouldBe(0);
    }

    private Task<long> EventCount() => app.Database.ScalarAsync<long>("select count(*) from ledger.events");

    internal static async Task ShouldBeProblem(HttpResponseMessage response, HttpStatusCode status, string code)
    {
        response.StatusCode.ShouldBe(status);
        response.Content.Headers.ContentType!.MediaType.ShouldBe("application/problem+json");
        var problem = await response.Json();
        problem.Str("code").ShouldBe(code);
        problem.GetProperty("status").GetInt32().ShouldBe((int)status);
        problem.Str("title").ShouldNotBeNullOrWhiteSpace();
        problem.Str("detail").ShouldNotBeNullOrWhiteSpace();
        problem.Str("type").ShouldNotBeNullOrWhiteSpace();
    }
}

/// <summary>A gateway slow enough that requests overlap while the first is in flight.</summary>
public sealed class SlowGatewayApp : LedgerApp
{
    protected override IEnumerable<KeyValuePair<string, string>> Settings => [new("Ledger:Gateway:Simulator:LatencyMs", "300")];
}

public sealed class ConcurrentIdempotencySpecs(SlowGatewayApp app) : IClassFixture<SlowGatewayApp>
{
    [Fact]
    public async Task While_the_first_request_runs_the_same_key_is_409_in_use_with_Retry_After()
    {
        var client = app.Client(LedgerApp.Acme);
        var key = Requests.NewKey();
        var first = client.Charge(Requests.Charge(), key);
        await app.Database.WaitUntil("select count(*) > 0 from idempotency_keys where key = $1 and status = 'in_flight'", key);

        var second = await client.Charge(Requests.Charge(), key);

        await IdempotencySpecs.ShouldBeProblem(second, HttpStatusCode.Conflict, "idempotency_key_in_use");
        second.Headers.RetryAfter!.Delta.ShouldBe(TimeSpan.FromSeconds(1));
        (await first).StatusCode.ShouldBe(HttpStatusCode.Created);
    }

    [Fact]
    public async Task A_hundred_identical_concurrent_requests_make_one_payment_and_one_gateway_charge()
    {
        var client = app.Client(LedgerApp.Acme);
        var key = Requests.NewKey();
        var body = Requests.Charge(amount: 4200);

        var responses = await Task.WhenAll(Enumerable.Range(0, 100).Select(async _ =>
        {
            var r = await client.PostJson("/v1/payments", body, key);
            return (r.StatusCode, Body: await r.Content.ReadAsStringAsync());
        }));

        var created = responses.Where(r => r.StatusCode == HttpStatusCode.Created).ToList();
        var inUse = responses.Where(r => r.StatusCode == HttpStatusCode.Conflict).ToList();
        (created.Count + inUse.Count).ShouldBe(100);
        created.Count.ShouldBeGreaterThanOrEqualTo(1);
        created.Select(r => r.Body).Distinct().Count().ShouldBe(1);
        inUse.ShouldAllBe(r => r.Body.Contains("idempotency_key_in_use"));

        var paymentId = JsonNode.Parse(created[0].Body)!["id"]!.GetValue<string>();
        (await app.Database.ScalarAsync<long>("select count(*) from ledger.streams s join ledger.events e using (stream_id) where e.metadata->>'idempotencyKey' = $1 and e.type = 'payment_requested'", key)).ShouldBe(1);
        (await app.Database.ScalarAsync<long>("select count(*) from ledger.events where stream_id = $1 and type = 'payment_charged'", paymentId)).ShouldBe(1);
        (await app.Database.ScalarAsync<long>("select count(*) from payment_views where amount = 4200")).ShouldBe(1);
        (await app.Database.ScalarAsync<long>("select count(*) from gateway_simulator_charges where gateway_key = $1", paymentId)).ShouldBe(1);
    }
}
