using System.Net;
using Shouldly;
using Xunit;

namespace Ledger.Api.Tests;

public sealed class AccessSpecs(LedgerApp app) : IClassFixture<LedgerApp>
{
    [Theory]
    [InlineData(null)]
    [InlineData("sk_test_nobody")]
    [InlineData("sk_test_acm")]
    public async Task No_key_or_an_unknown_key_is_401_with_a_Bearer_challenge(string? key)
    {
        var response = await app.Client(key).GetAsync("/v1/payments/pay_x");
        await IdempotencySpecs.ShouldBeProblem(response, HttpStatusCode.Unauthorized, "unauthorized");
        response.Headers.WwwAuthenticate.ToString().ShouldBe("Bearer");
    }

    [Theory]
    [InlineData("\u000b")] // VT
    [InlineData("\u000c")] // FF
    [InlineData("\u00a0")] // no-break space
    [InlineData("\u0085")] // next line
    [InlineData("\u3000")] // ideographic space
    public async Task A_key_followed_by_anything_but_a_space_or_tab_is_another_key_and_401(string suffix)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, "/v1/payments");
        request.Headers.TryAddWithoutValidation("Authorization", $"Bearer {LedgerApp.Acme}{suffix}").ShouldBeTrue();

        var response = await app.Client(null).SendAsync(request);

        await IdempotencySpecs.ShouldBeProblem(response, HttpStatusCode.Unauthorized, "unauthorized");
    }

    [Theory]
    [InlineData(" ")]
    [InlineData("\t")]
    [InlineData(" \t ")]
    public async Task Spaces_and_tabs_around_a_key_are_what_HTTP_allows_and_it_still_authenticates(string padding)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, "/v1/payments");
        request.Headers.TryAddWithoutValidation("Authorization", $"Bearer {padding}{LedgerApp.Acme}{padding}").ShouldBeTrue();

        var response = await app.Client(null).SendAsync(request);

        response.StatusCode.ShouldBe(HttpStatusCode.OK);
    }

    [Fact]
    public async Task A_charge_without_a_key_is_401_and_writes_nothing()
    {
        var keysBefore = await app.Database.ScalarAsync<long>("select count(*) from idempotency_keys");
        var eventsBefore = await app.Database.ScalarAsync<long>("select count(*) from ledger.events");

        var response = await app.Client(null).Charge();

        await IdempotencySpecs.ShouldBeProblem(response, HttpStatusCode.Unauthorized, "unauthorized");
        (await app.Database.ScalarAsync<long>("select count(*) from idempotency_keys")).ShouldBe(keysBefore);
        (await app.Database.ScalarAsync<long>("select count(*) from ledger.events")).ShouldBe(eventsBefore);
    }

    [Fact]
    public async Task The_auditor_cannot_charge()
    {
        var response = await app.Client(LedgerApp.Auditor).Charge();

        await IdempotencySpecs.ShouldBeProblem(response, HttpStatusCode.Forbidden, "forbidden");
    }

    [Fact]
    public async Task A_merchant_cannot_see_another_merchants_payment_and_is_not_told_it_exists()
    {
        var acmePayment = await (await app.Client(LedgerApp.Acme).Charge()).Json();

        var globexLooks = await app.Client(LedgerApp.Globex).GetAsync($"/v1/payments/{acmePayment.Str("id")}");
        var nobodysPayment = await app.Client(LedgerApp.Globex).GetAsync("/v1/payments/pay_never_existed");

        await IdempotencySpecs.ShouldBeProblem(globexLooks, HttpStatusCode.NotFound, "payment_not_found");
        (await globexLooks.Json()).Str("detail").ShouldBe((await nobodysPayment.Json()).Str("detail"));
    }

    [Fact]
    public async Task The_auditor_can_read_any_merchants_payment()
    {
        var acmePayment = await (await app.Client(LedgerApp.Acme).Charge()).Json();

        var response = await app.Client(LedgerApp.Auditor).GetAsync($"/v1/payments/{acmePayment.Str("id")}");

        response.StatusCode.ShouldBe(HttpStatusCode.OK);
        (await response.Json()).Str("merchantId").ShouldBe("acme");
    }
}

public sealed class SecretsInLogsSpecs(LedgerApp app) : IClassFixture<LedgerApp>
{
    [Fact]
    public async Task A_charge_leaves_no_card_number_cvc_or_api_key_in_the_logs_events_or_response()
    {
        var body = Requests.Charge(card: "5555555555554444");
        ((System.Text.Json.Nodes.JsonObject)body["card"]!)["cvc"] = "9876";
        var response = await app.Client(LedgerApp.Acme).Charge(body);
        var declined = await app.Client(LedgerApp.Acme).Charge(Requests.Charge(card: "4000000000000119")); // retried: logs warnings
        await app.Client("sk_live_wrong_key_123456").GetAsync("/v1/payments/x");

        response.StatusCode.ShouldBe(System.Net.HttpStatusCode.Created);
        declined.StatusCode.ShouldBe(System.Net.HttpStatusCode.Created);
        var logs = app.Logs.All;
        logs.ShouldNotBeEmpty();
        logs.ShouldContain("transient"); // the capture does see the host's log lines
        foreach (var secret in new[] { "5555555555554444", "4000000000000119", "9876", LedgerApp.Acme, "sk_live_wrong_key_123456" })
            logs.ShouldNotContain(secret);

        var stored = await app.Database.ScalarAsync<string>(
            "select coalesce(string_agg(data::text || metadata::text, ' '), '') from ledger.events");
        stored.ShouldNotContain("5555555555554444");
        // A 4-digit cvc can turn up inside a random id (a correlation id, a fingerprint) by chance: look for it as a
        // value or a member of its own, not as a substring.
        var storedValues = new List<string>();
        await using var ds = app.Database.CreateDataSource();
        await using (var cmd = ds.CreateCommand("select data::text, metadata::text from ledger.events"))
        await using (var reader = await cmd.ExecuteReaderAsync())
            while (await reader.ReadAsync())
                for (var i = 0; i < 2; i++) Leaves(System.Text.Json.Nodes.JsonNode.Parse(reader.GetString(i)), storedValues);
        storedValues.ShouldNotBeEmpty();
        storedValues.ShouldNotContain("9876");
        storedValues.ShouldNotContain("cvc");
        var body2 = await response.Content.ReadAsStringAsync();
        body2.ShouldNotContain("5555555555554444");
        body2.ShouldNotContain("9876");
        (await app.Database.ScalarAsync<string>("select coalesce(string_agg(response_body, ' '), '') from idempotency_keys")).ShouldNotContain("5555555555554444");
    }

    [Fact]
    public async Task Commits_that_lose_a_race_log_no_statement_and_no_event_data()
    {
        // Racing first requests with one key: the losers' commits fail on the key's claim. Marten's default logger
        // would write each failed statement with its parameters (the event's JSON) into the log.
        var body = Requests.Charge();
        body["description"] = "only-in-the-event-3f9a";
        var key = $"race-{Guid.NewGuid():N}";
        var answers = await Task.WhenAll(Enumerable.Range(0, 16).Select(_ => app.Client(LedgerApp.Acme).Charge(body, key)));

        answers.Count(a => a.StatusCode == System.Net.HttpStatusCode.Created).ShouldBeGreaterThanOrEqualTo(1);
        (await app.Database.ScalarAsync<long>("select count(*) from ledger.events where metadata->>'idempotencyKey' = $1", key)).ShouldBe(2);
        app.Logs.All.ShouldNotContain("only-in-the-event-3f9a");
    }

    /// <summary>Every member name and every scalar value of a JSON document, as text.</summary>
    private static void Leaves(System.Text.Json.Nodes.JsonNode? node, List<string> into)
    {
        switch (node)
        {
            case System.Text.Json.Nodes.JsonObject o:
                foreach (var (name, value) in o) { into.Add(name); Leaves(value, into); }
                break;
            case System.Text.Json.Nodes.JsonArray a:
                foreach (var item in a) Leaves(item, into);
                break;
            case null:
                break;
            default:
                into.Add(node.ToString());
                break;
        }
    }
}

public sealed class RequestLogSpecs(LedgerApp app) : IClassFixture<LedgerApp>
{
    [Fact]
    public async Task Each_request_is_logged_once_with_method_path_status_and_correlation_id_but_no_key()
    {
        var response = await app.Client(LedgerApp.Acme).GetAsync("/v1/payments/pay_not_here?cursor=sk_in_a_query");
        response.StatusCode.ShouldBe(System.Net.HttpStatusCode.NotFound);
        var correlationId = response.Headers.GetValues("X-Correlation-Id").Single();

        var lines = app.Logs.Lines.Where(l => l.Contains("RequestLoggingMiddleware") && l.Contains(correlationId)).ToList();

        lines.Count.ShouldBe(1, app.Logs.All);
        lines[0].ShouldContain("HTTP GET /v1/payments/pay_not_here responded 404");
        lines[0].ShouldNotContain(LedgerApp.Acme);
        lines[0].ShouldNotContain("sk_in_a_query"); // the path is logged, never the query string
    }

    [Fact]
    public async Task A_card_number_or_a_line_break_in_a_path_is_not_logged_as_sent()
    {
        var response = await app.Client(LedgerApp.Acme).GetAsync("/v1/payments/4242424242424242%0AINF%20forged");
        response.StatusCode.ShouldBe(System.Net.HttpStatusCode.NotFound);
        var correlationId = response.Headers.GetValues("X-Correlation-Id").Single();

        var line = app.Logs.Lines.Single(l => l.Contains("RequestLoggingMiddleware") && l.Contains(correlationId));

        line.ShouldNotContain("4242424242424242");
        line.ShouldContain("/v1/payments/****************?INF forged responded 404");
    }

    [Fact]
    public async Task Health_probes_are_not_logged_at_information()
    {
        var probe = await app.Client(null).GetAsync("/health/ready");
        probe.StatusCode.ShouldBe(System.Net.HttpStatusCode.OK);
        var correlationId = probe.Headers.GetValues("X-Correlation-Id").Single();
        await app.Client(LedgerApp.Acme).GetAsync("/v1/payments/pay_after_the_probe"); // a request that is logged, after it

        app.Logs.Lines.ShouldContain(l => l.Contains("/v1/payments/pay_after_the_probe"));
        app.Logs.Lines.ShouldNotContain(l => l.Contains("RequestLoggingMiddleware") && l.Contains(correlationId));
    }
}

public sealed class MisconfiguredKeySpecs
{
    [Fact]
    public async Task A_merchant_key_without_a_merchant_id_stops_the_host_from_starting_and_says_why()
    {
        // A merchant key naming no merchant would read everyone's payments: refuse to start rather than serve it.
        var db = new Ledger.Testing.TestDatabase();
        await db.InitializeAsync();
        await using var host = new HostProcess(db.ConnectionString, new Dictionary<string, string>
        {
            ["Ledger:ApiKeys:3:Key"] = "sk_test_nobody_in_particular",
            ["Ledger:ApiKeys:3:Role"] = "merchant",
        });

        var failure = await Should.ThrowAsync<InvalidOperationException>(host.StartAsync);

        failure.Message.ShouldContain("exited with 1");
        failure.Message.ShouldContain("Ledger will not start");
        failure.Message.ShouldContain("MerchantId");
    }
}
