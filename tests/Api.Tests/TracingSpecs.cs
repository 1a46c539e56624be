using System.Net;
using System.Text.Json.Nodes;
using Ledger.Testing;
using Shouldly;
using Xunit;

namespace Ledger.Api.Tests;

/// <summary>
/// Traces as an operator's collector receives them (issue 17): the host as a process of its own, exporting through
/// OpenTelemetry's OTLP exporter to a real OTLP/HTTP receiver on loopback. One trace per request, from the HTTP span
/// through Ledger's own spans and Marten's down to each SQL statement; its trace id is the correlation id everywhere.
/// </summary>
public sealed class TracingSpecs : IAsyncLifetime
{
    private const string Password = "pw-never-in-a-span-51c2";
    private readonly TestDatabase _db = new();
    private readonly OtlpReceiver _collector = new();
    private readonly WebhookReceiver _hooks = new();
    private HostProcess _host = null!;

    public async ValueTask InitializeAsync()
    {
        await _db.InitializeAsync();
        await _collector.StartAsync();
        await _hooks.StartAsync();
        var settings = _collector.Settings();
        settings["Serilog:MinimumLevel:Default"] = "Information"; // the request log lines
        foreach (var (key, value) in WebhookSettings.Fast) settings[key] = value;
        _host = new HostProcess($"{_db.ConnectionString};Password={Password}", settings);
        await _host.StartAsync();
    }

    private static string TraceParent(string traceId, string spanId, bool sampled = true) => $"00-{traceId}-{spanId}-{(sampled ? "01" : "00")}";
    private static string NewTraceId() => Guid.NewGuid().ToString("N");
    private static string NewSpanId() => Guid.NewGuid().ToString("N")[..16];

    private async Task<HttpResponseMessage> ChargeWith(string? traceparent = null, string? correlationId = null, string? key = null)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, "/v1/payments") { Content = JsonContent(Requests.Charge()) };
        request.Headers.TryAddWithoutValidation("Idempotency-Key", key ?? Requests.NewKey());
        if (traceparent is not null) request.Headers.TryAddWithoutValidation("traceparent", traceparent);
        if (correlationId is not null) request.Headers.TryAddWithoutValidation("X-Correlation-Id", correlationId);
        return await _host.Client(LedgerApp.Acme).SendAsync(request);
    }

    private static StringContent JsonContent(JsonNode body) => new(body.ToJsonString(), System.Text.Encoding.UTF8, "application/json");

    [Fact]
    public async Task A_charge_is_one_trace_from_the_callers_span_through_the_ledger_and_its_database_to_the_gateway()
    {
        var (traceId, callerSpan) = (NewTraceId(), NewSpanId());

        var answer = await ChargeWith(TraceParent(traceId, callerSpan));

        answer.StatusCode.ShouldBe(HttpStatusCode.Created);
        answer.Headers.GetValues("X-Correlation-Id").Single().ShouldBe(traceId); // the caller's trace id is the correlation id
        var payment = (await answer.Json()).Str("id");
        var trace = await _collector.WaitForSpan(traceId, s => s.Name == "ledger.gateway.charge", "for the gateway call");
        trace = await _collector.WaitForSpan(traceId, s => s.Kind == ExportedSpan.Server, "for the request");

        var server = trace.Single(s => s.Kind == ExportedSpan.Server);
        server.Name.ShouldBe("POST /v1/payments");
        server.ParentSpanId.ShouldBe(callerSpan);
        server.Service.ShouldBe("ledger");
        server["http.response.status_code"].ShouldBe("201");
        var look = trace.Single(s => s.Name == "ledger.idempotency.look");
        look["ledger.idempotency.key"].ShouldBe("new");
        look.ParentSpanId.ShouldBe(server.SpanId);
        // Two appends, two commits: PaymentRequested with the key's claim before the gateway is asked, then the outcome.
        var appends = trace.Where(s => s.Name == "ledger.append").ToList();
        appends.Select(s => s["ledger.events"]).ShouldBe(["payment_requested", "payment_charged"], ignoreOrder: true);
        appends.ShouldAllBe(s => s["ledger.stream.id"] == payment);
        trace.Count(s => s.Name == "ledger.projections.inline").ShouldBe(2);
        var gateway = trace.Single(s => s.Name == "ledger.gateway.charge");
        gateway.Kind.ShouldBe(ExportedSpan.Client);
        gateway["ledger.gateway.outcome"].ShouldBe("approved");
        gateway["ledger.payment.id"].ShouldBe(payment);
        // Marten's connection spans and Npgsql's statements, in the same trace.
        trace.ShouldContain(s => s.Scope == "Marten" && s.Name == "marten.connection");
        var statements = trace.Where(s => s.Scope == "Npgsql").ToList();
        statements.Count.ShouldBeGreaterThanOrEqualTo(3, string.Join(", ", trace.Select(s => $"{s.Scope}:{s.Name}")));
        // The append is one round trip: Marten's append function, the key's claim and the projections' statements together.
        statements.ShouldContain(s => s["db.query.text"]!.Contains("mt_quick_append_events") && s["db.query.text"]!.Contains("insert into idempotency_keys")
            && s["db.query.text"]!.Contains("insert into payment_views"),
            string.Join("\n", statements.Select(s => string.Join("; ", s.Attributes.Select(a => $"{a.Key}={a.Value}")))));
        // Every span of the request is a descendant of the caller's.
        var ids = trace.Select(s => s.SpanId).Append(callerSpan).ToHashSet();
        trace.Where(s => s.Kind != ExportedSpan.Producer).ShouldAllBe(s => s.ParentSpanId != null && ids.Contains(s.ParentSpanId));
    }

    [Fact]
    public async Task The_trace_id_is_in_the_events_metadata_the_log_lines_and_the_webhook_deliveries_the_charge_makes()
    {
        var endpoint = await _host.Client(LedgerApp.Globex).PostJson("/v1/webhook-endpoints",
            new JsonObject { ["url"] = _hooks.Url, ["events"] = new JsonArray("payment.succeeded") });
        endpoint.StatusCode.ShouldBe(HttpStatusCode.Created);
        await Task.Delay(400); // the audience refresh (200 ms) learns of the endpoint

        var request = new HttpRequestMessage(HttpMethod.Post, "/v1/payments") { Content = JsonContent(Requests.Charge(orderId: "traced-1")) };
        request.Headers.TryAddWithoutValidation("Idempotency-Key", Requests.NewKey());
        var answer = await _host.Client(LedgerApp.Globex).SendAsync(request);
        answer.StatusCode.ShouldBe(HttpStatusCode.Created);
        var traceId = answer.Headers.GetValues("X-Correlation-Id").Single();
        traceId.ShouldMatch("^[0-9a-f]{32}$");
        var payment = (await answer.Json()).Str("id");

        var events = await (await _host.Client("ak_test_auditor").GetAsync($"/v1/payments/{payment}/events")).Json();
        foreach (var e in events.GetProperty("events").EnumerateArray())
            e.GetProperty("metadata").Str("correlationId").ShouldBe(traceId);

        await _hooks.WaitUntil(r => r.Any(w => w.PaymentId == payment), what: "the payment's webhook");
        var delivery = _hooks.Received.First(w => w.PaymentId == payment);
        delivery.CorrelationId.ShouldBe(traceId);
        delivery.TraceParent.ShouldNotBeNull().ShouldStartWith($"00-{traceId}-");
        var trace = await _collector.WaitForSpan(traceId, s => s.Name == "ledger.webhook.deliver", "for the delivery");
        var deliver = trace.Single(s => s.Name == "ledger.webhook.deliver");
        deliver["http.response.status_code"].ShouldBe("200");
        trace.ShouldContain(s => s.Scope == "System.Net.Http" && s.ParentSpanId == deliver.SpanId); // the POST to the receiver
        trace.ShouldContain(s => s.Scope == "Wolverine"); // the outbox's message on its way to the fan-out

        var line = _host.Output.Single(l => l.Contains("HTTP POST /v1/payments responded 201") && l.Contains(traceId));
        line.ShouldNotContain(LedgerApp.Globex);
    }

    [Fact]
    public async Task A_callers_own_correlation_id_is_echoed_and_found_on_the_span_and_in_the_log_beside_the_trace_id()
    {
        var (traceId, callerSpan) = (NewTraceId(), NewSpanId());

        var answer = await ChargeWith(TraceParent(traceId, callerSpan), correlationId: "order-flow-77");

        answer.Headers.GetValues("X-Correlation-Id").Single().ShouldBe("order-flow-77");
        var trace = await _collector.WaitForSpan(traceId, s => s.Kind == ExportedSpan.Server, "for the request");
        trace.Single(s => s.Kind == ExportedSpan.Server)["ledger.correlation_id"].ShouldBe("order-flow-77");
        var line = _host.Output.Single(l => l.Contains("HTTP POST /v1/payments responded 201") && l.Contains("order-flow-77"));
        line.ShouldContain(traceId); // Serilog's trace id on the line, beside the caller's correlation id
    }

    [Fact]
    public async Task A_replay_is_a_trace_of_its_own_that_says_the_key_was_completed_and_asks_no_gateway()
    {
        var key = Requests.NewKey();
        (await ChargeWith(key: key)).StatusCode.ShouldBe(HttpStatusCode.Created);
        var traceId = NewTraceId();

        var replay = await ChargeWith(TraceParent(traceId, NewSpanId()), key: key);

        replay.Headers.GetValues("Idempotent-Replayed").Single().ShouldBe("true");
        var trace = await _collector.WaitForSpan(traceId, s => s.Kind == ExportedSpan.Server, "for the replay");
        trace.Single(s => s.Name == "ledger.idempotency.look")["ledger.idempotency.key"].ShouldBe("completed");
        trace.ShouldNotContain(s => s.Name == "ledger.gateway.charge" || s.Name == "ledger.append");
    }

    [Fact]
    public async Task A_declined_card_is_an_outcome_on_the_gateway_span_and_no_card_key_or_password_ever_leaves_in_a_span()
    {
        var traceId = NewTraceId();
        var request = new HttpRequestMessage(HttpMethod.Post, "/v1/payments") { Content = JsonContent(Requests.Charge(card: "4000000000000002")) };
        request.Headers.TryAddWithoutValidation("Idempotency-Key", Requests.NewKey());
        request.Headers.TryAddWithoutValidation("traceparent", TraceParent(traceId, NewSpanId()));
        (await _host.Client(LedgerApp.Acme).SendAsync(request)).StatusCode.ShouldBe(HttpStatusCode.Created);

        var trace = await _collector.WaitForSpan(traceId, s => s.Name == "ledger.gateway.charge", "for the gateway call");
        var gateway = trace.Single(s => s.Name == "ledger.gateway.charge");
        gateway["ledger.gateway.outcome"].ShouldBe("declined");
        gateway["ledger.gateway.decline_code"].ShouldBe("card_declined");
        await _collector.WaitForSpan(traceId, s => s.Kind == ExportedSpan.Server, "for the request");

        var exported = string.Concat(_collector.Payloads.Select(p => System.Text.Encoding.UTF8.GetString(p)));
        exported.ShouldNotContain("4000000000000002");
        exported.ShouldNotContain(Requests.GoodCard);
        exported.ShouldNotContain(LedgerApp.Acme);
        exported.ShouldNotContain(Password);
        exported.ShouldNotContain("\"cvc\"");
    }

    [Fact]
    public async Task The_command_line_exports_a_rebuilds_phases_as_service_ledger_cli()
    {
        (await ChargeWith()).StatusCode.ShouldBe(HttpStatusCode.Created);
        var environment = new Dictionary<string, string?>
        {
            ["ConnectionStrings__Ledger"] = _db.ConnectionString,
            ["OTEL_EXPORTER_OTLP_ENDPOINT"] = _collector.Endpoint,
            ["OTEL_EXPORTER_OTLP_PROTOCOL"] = "http/protobuf",
        };

        var (exit, output) = await Cli.RunProcess(environment, "projections", "rebuild", "payment_views");

        exit.ShouldBe(0, output);
        var cli = _collector.Spans.Where(s => s.Service == "ledger-cli").ToList(); // the provider flushes as the process ends
        var root = cli.Single(s => s.Name == "ledger.cli");
        root["ledger.cli.command"].ShouldBe("projections rebuild");
        var trace = _collector.Trace(root.TraceId);
        var rebuild = trace.Single(s => s.Name == "ledger.rebuild");
        rebuild.ParentSpanId.ShouldBe(root.SpanId);
        rebuild["ledger.projections"].ShouldBe("payment_views");
        trace.ShouldContain(s => s.Name == "ledger.rebuild.load" && s.ParentSpanId == rebuild.SpanId);
        trace.ShouldContain(s => s.Name == "ledger.rebuild.indexes" && s.ParentSpanId == rebuild.SpanId);
        trace.ShouldContain(s => s.Scope == "Npgsql");
    }

    public async ValueTask DisposeAsync()
    {
        await _host.DisposeAsync();
        await _hooks.DisposeAsync();
        await _collector.DisposeAsync();
        await _db.DisposeAsync();
    }
}

/// <summary>
/// Sampling at 0 (with an exporter configured): no tracer provider, nothing exported, even for a caller that marks its trace
/// sampled; the correlation id is still the caller's trace id.
/// </summary>
public sealed class UnsampledTracingSpecs : IAsyncLifetime
{
    private readonly TestDatabase _db = new();
    private readonly OtlpReceiver _collector = new();
    private HostProcess _host = null!;

    public async ValueTask InitializeAsync()
    {
        await _db.InitializeAsync();
        await _collector.StartAsync();
        _host = new HostProcess(_db.ConnectionString, _collector.Settings(sampleRatio: 0));
        await _host.StartAsync();
    }

    [Fact]
    public async Task Nothing_is_exported_and_the_correlation_id_is_still_the_callers_trace_id()
    {
        var traceId = Guid.NewGuid().ToString("N");
        var request = new HttpRequestMessage(HttpMethod.Post, "/v1/payments")
        {
            Content = new StringContent(Requests.Charge().ToJsonString(), System.Text.Encoding.UTF8, "application/json"),
        };
        request.Headers.TryAddWithoutValidation("Idempotency-Key", Requests.NewKey());
        request.Headers.TryAddWithoutValidation("traceparent", $"00-{traceId}-{Guid.NewGuid():N}"[..52] + "-01");

        var answer = await _host.Client(LedgerApp.Acme).SendAsync(request);

        answer.StatusCode.ShouldBe(HttpStatusCode.Created);
        answer.Headers.GetValues("X-Correlation-Id").Single().ShouldBe(traceId);
        await Task.Delay(1000); // ten export intervals
        _collector.Spans.ShouldBeEmpty();
    }

    public async ValueTask DisposeAsync()
    {
        await _host.DisposeAsync();
        await _collector.DisposeAsync();
        await _db.DisposeAsync();
    }
}

/// <summary>The console exporter, for a look on one's own machine: the spans on the host's standard output.</summary>
public sealed class ConsoleTracingSpecs : IAsyncLifetime
{
    private readonly TestDatabase _db = new();
    private HostProcess _host = null!;

    public async ValueTask InitializeAsync()
    {
        await _db.InitializeAsync();
        _host = new HostProcess(_db.ConnectionString, new Dictionary<string, string> { ["Ledger:Telemetry:Traces:Exporter"] = "console" });
        await _host.StartAsync();
    }

    [Fact]
    public async Task Each_span_of_a_charge_is_printed_with_the_trace_id_the_answer_names()
    {
        var answer = await _host.Client(LedgerApp.Acme).Charge();

        answer.StatusCode.ShouldBe(HttpStatusCode.Created);
        var traceId = answer.Headers.GetValues("X-Correlation-Id").Single();
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (!_host.Output.Any(l => l.Contains("Activity.DisplayName:        POST /v1/payments")) && DateTime.UtcNow < deadline) await Task.Delay(100);
        var printed = string.Join('\n', _host.Output);
        printed.ShouldContain($"Activity.TraceId:            {traceId}");
        printed.ShouldContain("Activity.DisplayName:        ledger.gateway.charge");
        printed.ShouldContain("Activity.DisplayName:        POST /v1/payments");
        printed.ShouldNotContain(Requests.GoodCard);
    }

    public async ValueTask DisposeAsync()
    {
        await _host.DisposeAsync();
        await _db.DisposeAsync();
    }
}
