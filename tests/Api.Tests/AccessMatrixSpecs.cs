using System.Net;
using System.Text.Json.Nodes;
using Shouldly;
using Xunit;

namespace Ledger.Api.Tests;

/// <summary>Who may do what, endpoint by endpoint.</summary>
public sealed class AccessMatrixSpecs(SeededAccessApp app) : IClassFixture<SeededAccessApp>
{
    private string AcmePayment => app.AcmePayment;

    private IEnumerable<(string Method, string Path, JsonNode? Body)> Endpoints() =>
    [
        ("POST", "/v1/payments", Requests.Charge()),
        ("GET", "/v1/payments", null),
        ("GET", $"/v1/payments/{AcmePayment}", null),
        ("POST", $"/v1/payments/{AcmePayment}/refunds", new JsonObject { ["amount"] = 1 }),
        ("GET", $"/v1/payments/{AcmePayment}/refunds", null),
        ("GET", $"/v1/payments/{AcmePayment}/receipt", null),
        ("GET", $"/v1/payments/{AcmePayment}/events", null),
        ("GET", $"/v1/payments/{AcmePayment}/history?atVersion=1", null),
        ("GET", "/v1/events", null),
        ("GET", "/v1/metrics", null),
        ("GET", "/v1/ledger/balances", null),
        ("GET", $"/v1/payments/{AcmePayment}/proof", null),
        ("GET", "/v1/audit/checkpoints", null),
        ("GET", "/v1/audit/checkpoints/latest", null),
        ("GET", "/v1/audit/public-key", null),
        ("POST", "/v1/webhook-endpoints", new JsonObject { ["url"] = "http://127.0.0.1:9/hooks", ["events"] = new JsonArray("payment.succeeded") }),
        ("GET", "/v1/webhook-endpoints", null),
        ("GET", $"/v1/webhook-endpoints/{app.AcmeEndpoint}", null),
        ("GET", $"/v1/webhook-endpoints/{app.AcmeEndpoint}/deliveries", null),
        ("POST", $"/v1/webhook-endpoints/{app.AcmeEndpoint}/deliveries/whd_none/retry", new JsonObject()),
    ];

    private static Task<HttpResponseMessage> Send(HttpClient client, string method, string path, JsonNode? body) =>
        method == "POST" ? client.PostJson(path, body!, Requests.NewKey()) : client.GetAsync(path);

    [Fact]
    public async Task Every_v1_endpoint_is_401_without_a_key_or_with_a_wrong_one()
    {
        foreach (var key in new[] { null, "sk_test_wrong", "ak_test_auditor_", "Bearer" })
        foreach (var (method, path, body) in Endpoints())
        {
            var response = await Send(app.Client(key), method, path, body);
            response.StatusCode.ShouldBe(HttpStatusCode.Unauthorized, $"{method} {path} with {key ?? "no key"}");
            response.Headers.WwwAuthenticate.ToString().ShouldBe("Bearer");
        }
    }

    [Fact]
    public async Task Another_merchant_can_neither_see_nor_touch_a_payment_and_is_not_told_it_exists()
    {
        var globex = app.Client(LedgerApp.Globex);
        foreach (var (method, path, body) in Endpoints().Where(e => e.Path.Contains(AcmePayment)))
            await IdempotencySpecs.ShouldBeProblem(await Send(globex, method, path, body), HttpStatusCode.NotFound, "payment_not_found");

        var list = await (await globex.GetAsync("/v1/payments?limit=100")).Json();
        list.GetProperty("data").EnumerateArray().ShouldAllBe(p => p.Str("merchantId") == "globex");
        var metrics = await (await globex.GetAsync("/v1/metrics")).Json();
        metrics.GetProperty("currencies").EnumerateArray().Sum(c => c.GetProperty("paymentsCreated").GetInt64())
            .ShouldBe(await app.Database.ScalarAsync<long>("select count(*) from payment_views where merchant_id = 'globex'")); // its own only
        var books = await (await globex.GetAsync("/v1/ledger/balances")).Json();
        books.GetProperty("data").EnumerateArray().ShouldAllBe(a => a.Str("account").StartsWith("merchant:globex:"));
        await IdempotencySpecs.ShouldBeProblem(await globex.GetAsync("/v1/events"), HttpStatusCode.Forbidden, "forbidden");
    }

    [Fact]
    public async Task Reusing_another_merchants_idempotency_key_never_replays_its_answer()
    {
        var replay = await app.Client(LedgerApp.Globex).Charge(Requests.Charge(), app.AcmeKey);

        replay.StatusCode.ShouldBe(HttpStatusCode.Created);
        replay.Headers.Contains("Idempotent-Replayed").ShouldBeFalse();
        var payment = await replay.Json();
        (payment.Str("merchantId"), payment.Str("id") == AcmePayment).ShouldBe(("globex", false));
    }

    [Fact]
    public async Task The_auditor_reads_every_endpoint_and_writes_none()
    {
        var auditor = app.Client(LedgerApp.Auditor);
        // This app signs no checkpoints, so those answer 404 checkpoint_not_found here; ProofSpecs reads them as an auditor.
        foreach (var (method, path, body) in Endpoints().Where(e => !e.Path.Contains("/audit/") && !e.Path.EndsWith("/proof")))
        {
            var response = await Send(auditor, method, path, body);
            if (method == "POST") await IdempotencySpecs.ShouldBeProblem(response, HttpStatusCode.Forbidden, "forbidden");
            else response.StatusCode.ShouldBe(HttpStatusCode.OK, $"{method} {path}");
        }
    }
}

/// <summary>One acme payment (charged, with its key remembered) and one globex payment.</summary>
public sealed class SeededAccessApp : LedgerApp
{
    public string AcmePayment { get; private set; } = "";
    public string AcmeKey { get; } = Requests.NewKey();
    public string AcmeEndpoint { get; private set; } = "";

    public override async ValueTask InitializeAsync()
    {
        await base.InitializeAsync();
        AcmePayment = (await (await Client(Acme).Charge(Requests.Charge(), AcmeKey)).Json()).Str("id");
        await Client(Globex).Charge();
        var endpoint = await Client(Acme).PostJson("/v1/webhook-endpoints",
            new JsonObject { ["url"] = "http://127.0.0.1:9/hooks", ["events"] = new JsonArray("payment.refunded") });
        AcmeEndpoint = (await endpoint.Json()).Str("id");
    }
}
