using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using Ledger.Testing;
using Shouldly;
using Xunit;

namespace Ledger.Api.Tests;

/// <summary>
/// GET /metrics as Prometheus reads it: the host as a process of its own (so the counters are this spec's alone), its
/// exposition parsed by the Prometheus client library's parser (scripts/prom2json.py), and the alert rules of
/// ops/prometheus checked and exercised by promtool. Both tools come from Debian (scripts/observability.sh, run by
/// `make test`).
/// </summary>
public sealed class PrometheusSpecs : IAsyncLifetime
{
    private const string Password = "pw-never-in-metrics-7f3a";
    private readonly TestDatabase _db = new();
    private HostProcess _host = null!;

    public async ValueTask InitializeAsync()
    {
        await _db.InitializeAsync();
        // A password in the connection string (the test server trusts loopback, so it is never asked for): the scrape labels
        // pools by name and must never show it.
        _host = new HostProcess($"{_db.ConnectionString};Password={Password}");
        await _host.StartAsync();
    }

    [Fact]
    public async Task The_scrape_parses_as_Prometheus_exposition_with_the_ledger_series_and_the_stacks_own()
    {
        var acme = _host.Client(LedgerApp.Acme);
        var paid = (await (await acme.Charge()).Json()).Str("id");
        (await (await acme.Charge(Requests.Charge(card: "4000000000000002"))).Json()).Str("status").ShouldBe("failed"); // a decline is a 201 with a failed payment
        (await acme.PostJson($"/v1/payments/{paid}/refunds", new JsonObject { ["amount"] = 100 }, Requests.NewKey())).StatusCode.ShouldBe(HttpStatusCode.Created);

        var scrape = await _host.Client(null).GetAsync("/metrics");

        scrape.StatusCode.ShouldBe(HttpStatusCode.OK);
        scrape.Content.Headers.ContentType!.MediaType.ShouldBe("text/plain");
        var text = await scrape.Content.ReadAsStringAsync();
        text.ShouldNotContain(Password);
        text.ShouldNotContain(LedgerApp.Acme);
        var families = await Parse(text);
        Sample(families, "ledger_payments_created_total").ShouldBe(2);
        Sample(families, "ledger_payments_succeeded_total").ShouldBe(1);
        Sample(families, "ledger_payments_failed_total", ("code", "card_declined")).ShouldBe(1);
        Sample(families, "ledger_refunds_total").ShouldBe(1);
        Type(families, "ledger_payments_created").ShouldBe("counter");
        Type(families, "ledger_db_connections").ShouldBe("gauge");
        Sample(families, "ledger_db_connections", ("state", "idle")).ShouldBeGreaterThanOrEqualTo(0);
        Sample(families, "ledger_db_connections", ("state", "used")).ShouldBeGreaterThanOrEqualTo(0);
        Sample(families, "ledger_db_connections_max").ShouldBeGreaterThan(0);
        Sample(families, "ledger_db_connection_pending_requests").ShouldBe(0);
        // HTTP server durations by route, method and status, in the buckets dashboards had before.
        Type(families, "http_server_request_duration_seconds").ShouldBe("histogram");
        Sample(families, "http_server_request_duration_seconds_count",
            ("http_route", "/v1/payments"), ("http_request_method", "POST"), ("http_response_status_code", "201")).ShouldBe(2); // both charges

        Sample(families, "http_server_request_duration_seconds_bucket",
            ("http_route", "/v1/payments"), ("http_request_method", "POST"), ("http_response_status_code", "201"), ("le", "10")).ShouldBe(2);
        // The stack's own: Npgsql's commands, the runtime and the process.
        Type(families, "db_client_operation_duration_seconds").ShouldBe("histogram");
        families.Keys.ShouldContain(n => n.StartsWith("dotnet_gc_", StringComparison.Ordinal));
        families.Keys.ShouldContain(n => n.StartsWith("dotnet_process_cpu_time", StringComparison.Ordinal));
    }

    [Fact]
    public async Task The_alert_rules_are_valid_and_fire_on_failing_slow_starved_and_standby_less_series_only()
    {
        var rules = Path.Combine(ChildProcess.RepositoryRoot(), "ops", "prometheus");
        var check = await ChildProcess.RunAsync("promtool", ["check", "rules", "ledger-alerts.yml"], workingDirectory: rules);
        check.Exit.ShouldBe(0, check.Output);
        check.Output.ShouldContain("SUCCESS: 4 rules found");
        var test = await ChildProcess.RunAsync("promtool", ["test", "rules", "ledger-alerts.test.yml"], workingDirectory: rules);
        test.Exit.ShouldBe(0, test.Output);
    }

    /// <summary>The families by name, each with its type and samples, as the Prometheus client library parsed them.</summary>
    private static async Task<Dictionary<string, JsonElement>> Parse(string exposition)
    {
        var script = Path.Combine(ChildProcess.RepositoryRoot(), "scripts", "prom2json.py");
        var run = await ChildProcess.RunAsync(script, [], stdin: exposition); // its #! names Debian's python3, which has the library
        run.Exit.ShouldBe(0, run.Output);
        return JsonDocument.Parse(run.Stdout).RootElement.GetProperty("families").EnumerateArray()
            .ToDictionary(f => f.Str("name"), f => f);
    }

    private static string Type(Dictionary<string, JsonElement> families, string family) =>
        families.TryGetValue(family, out var f) ? f.Str("type") : throw new ShouldAssertException($"no family {family} in the scrape");

    /// <summary>The one sample of that name whose labels include these.</summary>
    private static double Sample(Dictionary<string, JsonElement> families, string name, params (string Label, string Value)[] labels)
    {
        var matches = families.Values.SelectMany(f => f.GetProperty("samples").EnumerateArray())
            .Where(s => s.Str("name") == name && labels.All(l => s.GetProperty("labels").TryGetProperty(l.Label, out var v) && v.GetString() == l.Value))
            .ToList();
        matches.Count.ShouldBe(1, $"samples of {name} with {string.Join(", ", labels)}");
        return matches[0].GetProperty("value").GetDouble();
    }

    public async ValueTask DisposeAsync()
    {
        await _host.DisposeAsync();
        await _db.DisposeAsync();
    }
}
