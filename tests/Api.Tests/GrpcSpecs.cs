using System.Net;
using System.Text.Json.Nodes;
using Google.Rpc;
using Grpc.Core;
using Grpc.Health.V1;
using Grpc.Net.Client;
using Ledger.Grpc.V1;
using Ledger.Testing;
using Shouldly;
using Xunit;

namespace Ledger.Api.Tests;

/// <summary>
/// ledger.v1.Payments as a service-to-service caller uses it (issue 18): Grpc.Net.Client over HTTP/2 cleartext to the
/// host as a process of its own, on its one port, with PostgreSQL behind it. Same payments, keys and rules as HTTP.
/// </summary>
public sealed class GrpcSpecs : IAsyncLifetime
{
    private readonly GrpcHost _grpc = new();
    private TestDatabase _db => _grpc.Database;
    private HostProcess _host => _grpc.Process;
    private GrpcChannel _channel => _grpc.Channel;

    public async ValueTask InitializeAsync() => await _grpc.StartAsync();

    private Payments.PaymentsClient Client => new(_channel);

    private static Metadata As(string? apiKey, string? idempotencyKey = null) => GrpcHost.As(apiKey, idempotencyKey);

    private static CreatePaymentRequest Charge(long amount = 1250, string card = Requests.GoodCard, string? order = null) => new()
    {
        Amount = amount, Currency = "USD", OrderId = order ?? $"grpc-{Guid.NewGuid():N}"[..20], Description = "2 coffees",
        Card = new Card { Number = card, ExpMonth = 12, ExpYear = 2030, Cvc = "123" },
    };

    private static async Task<RpcException> Refused(Task call) => await Should.ThrowAsync<RpcException>(call);

    private static ErrorInfo Info(RpcException e) => e.GetRpcStatus()!.GetDetail<ErrorInfo>()!;

    [Fact]
    public async Task A_charge_is_answered_with_the_payment_and_a_retry_with_its_key_replays_it_without_charging_again()
    {
        var key = Requests.NewKey();

        var call = Client.CreatePaymentAsync(Charge(), As(LedgerApp.Acme, key));
        var payment = await call;
        var replay = Client.CreatePaymentAsync(Charge(order: payment.OrderId), As(LedgerApp.Acme, key));
        var again = await replay;

        payment.Id.ShouldStartWith("pay_");
        payment.Status.ShouldBe(PaymentStatus.Succeeded);
        payment.Amount.ShouldBe(1250);
        payment.Card.Last4.ShouldBe("4242");
        payment.ReceiptNumber.ShouldNotBeEmpty();
        (await call.ResponseHeadersAsync).GetValue(Ledger.Host.Grpc.PaymentsService.ReplayedHeader).ShouldBeNull();
        again.ShouldBe(payment);
        (await replay.ResponseHeadersAsync).GetValue("idempotent-replayed").ShouldBe("true");
        (await _db.ScalarAsync<long>("select count(*) from gateway_simulator_charges where gateway_key = $1", payment.Id)).ShouldBe(1);
        (await Client.GetPaymentAsync(new GetPaymentRequest { Id = payment.Id }, As(LedgerApp.Acme))).ShouldBe(payment);
    }

    [Fact]
    public async Task A_decline_is_a_failed_payment_not_an_error()
    {
        var payment = await Client.CreatePaymentAsync(Charge(card: "4000000000000002"), As(LedgerApp.Acme, Requests.NewKey()));

        payment.Status.ShouldBe(PaymentStatus.Failed);
        payment.FailureCode.ShouldBe("card_declined");
        payment.ReceiptNumber.ShouldBeEmpty();
        (await Refused(Client.GetReceiptAsync(new GetReceiptRequest { PaymentId = payment.Id }, As(LedgerApp.Acme)).ResponseAsync))
            .StatusCode.ShouldBe(StatusCode.NotFound);
    }

    [Fact]
    public async Task A_refund_is_listed_and_on_the_receipt_and_one_past_what_remains_is_refused_as_a_failed_precondition()
    {
        var payment = await Client.CreatePaymentAsync(Charge(5000), As(LedgerApp.Acme, Requests.NewKey()));

        var refunded = await Client.RefundPaymentAsync(new RefundPaymentRequest { PaymentId = payment.Id, Amount = 1500, Reason = RefundReason.Duplicate },
            As(LedgerApp.Acme, Requests.NewKey()));
        var tooMuch = await Refused(Client.RefundPaymentAsync(new RefundPaymentRequest { PaymentId = payment.Id, Amount = 4000 },
            As(LedgerApp.Acme, Requests.NewKey())).ResponseAsync);

        refunded.Refund.Amount.ShouldBe(1500);
        refunded.Refund.Reason.ShouldBe(RefundReason.Duplicate);
        refunded.Payment.Status.ShouldBe(PaymentStatus.PartiallyRefunded);
        refunded.Payment.AmountRefundable.ShouldBe(3500);
        tooMuch.StatusCode.ShouldBe(StatusCode.FailedPrecondition);
        Info(tooMuch).Reason.ShouldBe("refund_exceeds_remaining");
        Info(tooMuch).Domain.ShouldBe("ledger.dev");
        var refunds = await Client.ListRefundsAsync(new ListRefundsRequest { PaymentId = payment.Id }, As(LedgerApp.Acme));
        refunds.Data.ShouldHaveSingleItem().Id.ShouldBe(refunded.Refund.Id);
        var receipt = await Client.GetReceiptAsync(new GetReceiptRequest { PaymentId = payment.Id }, As(LedgerApp.Acme));
        receipt.Lines.Select(l => (l.Kind, l.Amount)).ShouldBe([("charge", 5000L), ("refund", 1500L)]);
        receipt.Net.ShouldBe(3500);
        (await _db.ScalarAsync<long>("select amount_refunded from payment_views where id = $1", payment.Id)).ShouldBe(1500);
    }

    [Fact]
    public async Task Payments_are_listed_newest_first_and_paged_by_the_last_id()
    {
        var order = $"grpc-page-{Guid.NewGuid():N}"[..24];
        var ids = new List<string>();
        for (var i = 0; i < 3; i++) ids.Add((await Client.CreatePaymentAsync(Charge(100 + i, order: order), As(LedgerApp.Acme, Requests.NewKey()))).Id);

        var first = await Client.ListPaymentsAsync(new ListPaymentsRequest { OrderId = order, Limit = 2 }, As(LedgerApp.Acme));
        var second = await Client.ListPaymentsAsync(new ListPaymentsRequest { OrderId = order, Limit = 2, StartingAfter = first.Data[^1].Id }, As(LedgerApp.Acme));

        first.Data.Select(p => p.Id).ShouldBe([ids[2], ids[1]]);
        first.HasMore.ShouldBeTrue();
        second.Data.Select(p => p.Id).ShouldBe([ids[0]]);
        second.HasMore.ShouldBeFalse();
        (await Client.ListPaymentsAsync(new ListPaymentsRequest { OrderId = order, Status = PaymentStatus.Failed }, As(LedgerApp.Acme))).Data.ShouldBeEmpty();
        (await Client.ListPaymentsAsync(new ListPaymentsRequest { OrderId = order }, As(LedgerApp.Globex))).Data.ShouldBeEmpty();
        (await Client.ListPaymentsAsync(new ListPaymentsRequest { OrderId = order }, As("ak_test_auditor"))).Data.Count.ShouldBe(3);
        var badLimit = await Refused(Client.ListPaymentsAsync(new ListPaymentsRequest { Limit = 101 }, As(LedgerApp.Acme)).ResponseAsync);
        badLimit.StatusCode.ShouldBe(StatusCode.InvalidArgument);
        badLimit.GetRpcStatus()!.GetDetail<BadRequest>()!.FieldViolations.Single().Field.ShouldBe("limit");
    }

    [Fact]
    public async Task A_merchant_gets_not_found_for_another_merchants_payment_and_keys_decide_who_may_do_what()
    {
        var payment = await Client.CreatePaymentAsync(Charge(), As(LedgerApp.Acme, Requests.NewKey()));

        (await Refused(Client.GetPaymentAsync(new GetPaymentRequest { Id = payment.Id }, As(LedgerApp.Globex)).ResponseAsync)).StatusCode.ShouldBe(StatusCode.NotFound);
        (await Refused(Client.ListRefundsAsync(new ListRefundsRequest { PaymentId = payment.Id }, As(LedgerApp.Globex)).ResponseAsync)).StatusCode.ShouldBe(StatusCode.NotFound);
        (await Refused(Client.RefundPaymentAsync(new RefundPaymentRequest { PaymentId = payment.Id }, As(LedgerApp.Globex, Requests.NewKey())).ResponseAsync))
            .StatusCode.ShouldBe(StatusCode.NotFound);
        var anonymous = await Refused(Client.GetPaymentAsync(new GetPaymentRequest { Id = payment.Id }, As(null)).ResponseAsync);
        anonymous.StatusCode.ShouldBe(StatusCode.Unauthenticated);
        Info(anonymous).Reason.ShouldBe("unauthorized");
        (await Refused(Client.GetPaymentAsync(new GetPaymentRequest { Id = payment.Id }, As("sk_test_not_a_key")).ResponseAsync)).StatusCode.ShouldBe(StatusCode.Unauthenticated);
        (await Refused(Client.CreatePaymentAsync(Charge(), As("ak_test_auditor", Requests.NewKey())).ResponseAsync)).StatusCode.ShouldBe(StatusCode.PermissionDenied);
        (await Client.GetPaymentAsync(new GetPaymentRequest { Id = payment.Id }, As("ak_test_auditor"))).Id.ShouldBe(payment.Id);
        (await _db.ScalarAsync<long>("select count(*) from refund_views where payment_id = $1", payment.Id)).ShouldBe(0);
    }

    [Fact]
    public async Task Invalid_fields_and_a_missing_key_are_invalid_arguments_that_name_the_fields_and_write_nothing()
    {
        var order = $"grpc-bad-{Guid.NewGuid():N}"[..24];
        var bad = Charge(0, card: "4242424242424241", order: order);
        bad.Card.ExpMonth = 13;

        var invalid = await Refused(Client.CreatePaymentAsync(bad, As(LedgerApp.Acme, Requests.NewKey())).ResponseAsync);
        var noKey = await Refused(Client.CreatePaymentAsync(Charge(order: order), As(LedgerApp.Acme)).ResponseAsync);

        invalid.StatusCode.ShouldBe(StatusCode.InvalidArgument);
        Info(invalid).Reason.ShouldBe("validation_failed");
        invalid.GetRpcStatus()!.GetDetail<BadRequest>()!.FieldViolations.Select(v => v.Field)
            .ShouldBe(["amount", "card.number", "card.exp_month"], ignoreOrder: true);
        invalid.Status.Detail.ShouldNotContain("4242424242424241");
        noKey.StatusCode.ShouldBe(StatusCode.InvalidArgument);
        Info(noKey).Reason.ShouldBe("idempotency_key_missing");
        (await _db.ScalarAsync<long>("select count(*) from payment_views where order_id = $1", order)).ShouldBe(0);
    }

    [Fact]
    public async Task A_key_first_used_over_HTTP_replays_over_gRPC_for_the_same_request_and_is_refused_for_another()
    {
        var key = Requests.NewKey();
        var order = $"grpc-http-{Guid.NewGuid():N}"[..24];
        var http = await _host.Client(LedgerApp.Acme).Charge(Requests.Charge(amount: 1250, orderId: order), key);
        http.StatusCode.ShouldBe(HttpStatusCode.Created);
        var viaHttp = (await http.Json()).Str("id");
        var same = Charge(1250, order: order);
        same.Description = "2 coffees";
        same.Metadata.Add("table", "7"); // Requests.Charge's body, field for field

        var replay = Client.CreatePaymentAsync(same, As(LedgerApp.Acme, key));
        var other = await Refused(Client.CreatePaymentAsync(Charge(999, order: order), As(LedgerApp.Acme, key)).ResponseAsync);

        (await replay).Id.ShouldBe(viaHttp);
        (await replay.ResponseHeadersAsync).GetValue("idempotent-replayed").ShouldBe("true");
        other.StatusCode.ShouldBe(StatusCode.FailedPrecondition);
        Info(other).Reason.ShouldBe("idempotency_key_reused");
        (await _db.ScalarAsync<long>("select count(*) from payment_views where order_id = $1", order)).ShouldBe(1);
    }

    [Fact]
    public async Task A_hundred_racing_charges_with_one_key_half_over_HTTP_half_over_gRPC_make_one_payment_and_one_gateway_charge()
    {
        var key = Requests.NewKey();
        var order = $"grpc-race-{Guid.NewGuid():N}"[..24];
        var request = Charge(1250, order: order);
        request.Metadata.Add("table", "7");
        var http = _host.Client(LedgerApp.Acme);

        var answers = await Task.WhenAll(Enumerable.Range(0, 100).Select(async i =>
        {
            if (i % 2 == 0)
            {
                var r = await http.Charge(Requests.Charge(amount: 1250, orderId: order), key);
                return r.StatusCode == HttpStatusCode.Created ? (await r.Json()).Str("id") : $"http {(int)r.StatusCode}";
            }
            try { return (await Client.CreatePaymentAsync(request, As(LedgerApp.Acme, key))).Id; }
            catch (RpcException e) { return $"grpc {e.StatusCode} {Info(e).Reason}"; }
        }));

        // Every answer is the one payment, or "still at work: retry" (409 over HTTP, ABORTED over gRPC).
        var ids = answers.Where(a => a.StartsWith("pay_", StringComparison.Ordinal)).Distinct().ToList();
        ids.ShouldHaveSingleItem();
        answers.Where(a => !a.StartsWith("pay_", StringComparison.Ordinal))
            .ShouldAllBe(a => a == "http 409" || a == "grpc Aborted idempotency_key_in_use");
        (await _db.ScalarAsync<long>("select count(*) from payment_views where order_id = $1", order)).ShouldBe(1);
        (await _db.ScalarAsync<long>("select count(*) from gateway_simulator_charges where gateway_key = $1", ids[0])).ShouldBe(1);
    }

    [Fact]
    public async Task Health_checking_says_serving_and_reflection_lists_the_service()
    {
        var health = await new Health.HealthClient(_channel).CheckAsync(new HealthCheckRequest { Service = "ledger.v1.Payments" });
        health.Status.ShouldBe(HealthCheckResponse.Types.ServingStatus.Serving);

        using var reflection = new global::Grpc.Reflection.V1Alpha.ServerReflection.ServerReflectionClient(_channel).ServerReflectionInfo();
        await reflection.RequestStream.WriteAsync(new global::Grpc.Reflection.V1Alpha.ServerReflectionRequest { ListServices = "" });
        await reflection.RequestStream.CompleteAsync();
        (await reflection.ResponseStream.MoveNext(CancellationToken.None)).ShouldBeTrue();
        reflection.ResponseStream.Current.ListServicesResponse.Service.Select(s => s.Name).ShouldContain("ledger.v1.Payments");
    }

    public async ValueTask DisposeAsync() => await _grpc.DisposeAsync();
}

/// <summary>
/// The published contract used by a client no one here wrote: Node's @grpc/grpc-js with @grpc/proto-loader (npm, installed
/// under .data/npm-grpc on first use), loading proto/ledger/v1 at run time, through scripts/grpc-call.mjs (argument
/// parsing and printing only). The quick path: charge, replay, read, refund, refused refund, receipt.
/// </summary>
public sealed class GrpcOutsideClientSpecs : IAsyncLifetime
{
    private const string GrpcJs = "@grpc/grpc-js@1.14.7", ProtoLoader = "@grpc/proto-loader@0.8.1";
    private readonly GrpcHost _grpc = new();
    private TestDatabase _db => _grpc.Database;
    private string _address => _grpc.Address;
    private string _modules = "";

    public async ValueTask InitializeAsync()
    {
        await _grpc.StartAsync();
        var prefix = Path.Combine(ChildProcess.RepositoryRoot(), ".data", "npm-grpc");
        _modules = Path.Combine(prefix, "node_modules");
        if (!File.Exists(Path.Combine(_modules, "@grpc", "proto-loader", "package.json")))
        {
            var install = await ChildProcess.RunAsync("npm", ["install", "--prefix", prefix, "--no-save", "--no-audit", "--no-fund", GrpcJs, ProtoLoader],
                timeout: TimeSpan.FromMinutes(3));
            install.Exit.ShouldBe(0, install.Output);
        }
    }

    private async Task<System.Text.Json.JsonElement> Call(string method, JsonObject request, params string[] metadata)
    {
        var script = Path.Combine(ChildProcess.RepositoryRoot(), "scripts", "grpc-call.mjs");
        var run = await ChildProcess.RunAsync("node", [script, _address, method, request.ToJsonString(), .. metadata],
            new Dictionary<string, string?> { ["NODE_PATH"] = _modules }, TimeSpan.FromSeconds(60));
        run.Exit.ShouldBe(0, run.Output);
        return System.Text.Json.JsonDocument.Parse(run.Output).RootElement;
    }

    [Fact]
    public async Task Node_charges_replays_reads_refunds_and_is_refused_from_the_proto_files_alone()
    {
        var auth = $"authorization=Bearer {LedgerApp.Acme}";
        var key = $"idempotency-key={Requests.NewKey()}";
        var charge = new JsonObject
        {
            ["amount"] = 2500, ["currency"] = "EUR", ["orderId"] = "node-1",
            ["card"] = new JsonObject { ["number"] = Requests.GoodCard, ["expMonth"] = 12, ["expYear"] = 2030, ["cvc"] = "123" },
        };

        var created = (await Call("Payments/CreatePayment", charge, auth, key)).GetProperty("response");
        var replayed = await Call("Payments/CreatePayment", charge, auth, key);
        var id = created.Str("id");
        var read = (await Call("Payments/GetPayment", new JsonObject { ["id"] = id }, auth)).GetProperty("response");
        var refund = (await Call("Payments/RefundPayment", new JsonObject { ["paymentId"] = id, ["amount"] = 500, ["reason"] = "REFUND_REASON_REQUESTED_BY_CUSTOMER" },
            auth, $"idempotency-key={Requests.NewKey()}")).GetProperty("response");
        var refused = (await Call("Payments/RefundPayment", new JsonObject { ["paymentId"] = id, ["amount"] = 2001 },
            auth, $"idempotency-key={Requests.NewKey()}")).GetProperty("error");
        var receipt = (await Call("Payments/GetReceipt", new JsonObject { ["paymentId"] = id }, auth)).GetProperty("response");
        var invalid = (await Call("Payments/CreatePayment", new JsonObject { ["currency"] = "XXX" }, auth, $"idempotency-key={Requests.NewKey()}")).GetProperty("error");

        id.ShouldStartWith("pay_");
        created.Str("status").ShouldBe("PAYMENT_STATUS_SUCCEEDED");
        created.Str("amount").ShouldBe("2500"); // int64 as a string: no precision lost in JavaScript
        replayed.GetProperty("headers").Str("idempotent-replayed").ShouldBe("true");
        replayed.GetProperty("response").Str("id").ShouldBe(id);
        read.Str("receiptNumber").ShouldBe(created.Str("receiptNumber"));
        refund.GetProperty("refund").Str("amount").ShouldBe("500");
        refund.GetProperty("payment").Str("status").ShouldBe("PAYMENT_STATUS_PARTIALLY_REFUNDED");
        refused.Str("codeName").ShouldBe("FAILED_PRECONDITION");
        var info = refused.GetProperty("details").EnumerateArray().Single(d => d.Str("@type") == "google.rpc.ErrorInfo");
        info.Str("reason").ShouldBe("refund_exceeds_remaining");
        receipt.GetProperty("lines").GetArrayLength().ShouldBe(2);
        receipt.Str("net").ShouldBe("2000");
        invalid.Str("codeName").ShouldBe("INVALID_ARGUMENT");
        invalid.GetProperty("details").EnumerateArray().Single(d => d.Str("@type") == "google.rpc.BadRequest")
            .GetProperty("fieldViolations").EnumerateArray().Select(v => v.Str("field"))
            .ShouldBe(["amount", "currency", "order_id", "card"], ignoreOrder: true);
        (await _db.ScalarAsync<long>("select count(*) from payment_views where merchant_id = 'acme'")).ShouldBe(1);

        var stream = (await Call("Audit/GetStreamEvents", new JsonObject { ["paymentId"] = id }, auth)).GetProperty("response");
        stream.GetProperty("events").EnumerateArray().Select(e => e.Str("type")).ShouldBe(["payment_requested", "payment_charged", "payment_refunded"]);
        var history = (await Call("Audit/GetHistory", new JsonObject { ["paymentId"] = id, ["atVersion"] = 2 }, auth)).GetProperty("response");
        history.Str("status").ShouldBe("PAYMENT_STATUS_SUCCEEDED");
        var watched = await Lines("Audit/WatchLog", new JsonObject { ["after"] = 0 }, $"authorization=Bearer {LedgerApp.Auditor}", "--take", "3");
        watched.Select(e => e.Str("streamId")).ShouldAllBe(s => s == id);
        watched.Select(e => e.Str("type")).ShouldBe(["payment_requested", "payment_charged", "payment_refunded"]);
    }

    /// <summary>A server stream's messages, one JSON document per line.</summary>
    private async Task<List<System.Text.Json.JsonElement>> Lines(string method, JsonObject request, params string[] rest)
    {
        var script = Path.Combine(ChildProcess.RepositoryRoot(), "scripts", "grpc-call.mjs");
        var run = await ChildProcess.RunAsync("node", [script, _address, method, request.ToJsonString(), .. rest],
            new Dictionary<string, string?> { ["NODE_PATH"] = _modules }, TimeSpan.FromSeconds(60));
        run.Exit.ShouldBe(0, run.Output);
        return run.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => System.Text.Json.JsonDocument.Parse(l).RootElement).ToList();
    }

    public async ValueTask DisposeAsync() => await _grpc.DisposeAsync();
}

/// <summary>The per-key rate limit over gRPC: refused in gRPC's terms, RESOURCE_EXHAUSTED with the wait in a RetryInfo.</summary>
public sealed class GrpcRateLimitSpecs : IAsyncLifetime
{
    private readonly GrpcHost _grpc = new(new Dictionary<string, string> { ["Ledger:RateLimit:PermitsPerSecond"] = "1", ["Ledger:RateLimit:Burst"] = "3" });
    private GrpcChannel _channel => _grpc.Channel;

    public async ValueTask InitializeAsync() => await _grpc.StartAsync();

    [Fact]
    public async Task Calls_past_the_keys_burst_are_resource_exhausted_with_a_retry_delay()
    {
        var client = new Payments.PaymentsClient(_channel);
        var metadata = new Metadata { { "authorization", $"Bearer {LedgerApp.Acme}" } };
        var refusals = new List<RpcException>();
        for (var i = 0; i < 8; i++)
        {
            try { await client.ListPaymentsAsync(new ListPaymentsRequest(), metadata); }
            catch (RpcException e) { refusals.Add(e); }
        }

        refusals.ShouldNotBeEmpty();
        refusals.ShouldAllBe(e => e.StatusCode == StatusCode.ResourceExhausted);
        var status = refusals[0].GetRpcStatus()!;
        status.GetDetail<ErrorInfo>()!.Reason.ShouldBe("rate_limited");
        status.GetDetail<RetryInfo>()!.RetryDelay.Seconds.ShouldBeGreaterThanOrEqualTo(1);
        refusals[0].Status.Detail.ShouldContain("Too many requests.");
    }

    public async ValueTask DisposeAsync() => await _grpc.DisposeAsync();
}

/// <summary>A key whose first call is still at the gateway: ABORTED with a RetryInfo, and the retry gets the first answer.</summary>
public sealed class GrpcKeyInUseSpecs : IAsyncLifetime
{
    private readonly GrpcHost _grpc = new(new Dictionary<string, string> { ["Ledger:Gateway:Simulator:LatencyMs"] = "1500" });
    private TestDatabase _db => _grpc.Database;
    private GrpcChannel _channel => _grpc.Channel;

    public async ValueTask InitializeAsync() => await _grpc.StartAsync();

    [Fact]
    public async Task A_second_call_with_the_key_of_one_still_running_is_aborted_with_a_retry_delay_and_its_retry_replays()
    {
        var client = new Payments.PaymentsClient(_channel);
        var key = Requests.NewKey();
        var metadata = new Metadata { { "authorization", $"Bearer {LedgerApp.Acme}" }, { "idempotency-key", key } };
        var request = new CreatePaymentRequest
        {
            Amount = 700, Currency = "EUR", OrderId = "in-use-1", Card = new Card { Number = Requests.GoodCard, ExpMonth = 12, ExpYear = 2030, Cvc = "123" },
        };

        var first = client.CreatePaymentAsync(request, metadata).ResponseAsync;
        await _db.WaitUntil("select exists (select 1 from idempotency_keys where key = $1)", key); // claimed, at the gateway now
        var second = await Should.ThrowAsync<RpcException>(client.CreatePaymentAsync(request, metadata).ResponseAsync);
        var payment = await first;
        var retry = client.CreatePaymentAsync(request, metadata);

        second.StatusCode.ShouldBe(StatusCode.Aborted);
        var status = second.GetRpcStatus()!;
        status.GetDetail<ErrorInfo>()!.Reason.ShouldBe("idempotency_key_in_use");
        status.GetDetail<RetryInfo>()!.RetryDelay.Seconds.ShouldBeGreaterThanOrEqualTo(1);
        (await retry).Id.ShouldBe(payment.Id);
        (await retry.ResponseHeadersAsync).GetValue("idempotent-replayed").ShouldBe("true");
        (await _db.ScalarAsync<long>("select count(*) from gateway_simulator_charges where gateway_key = $1", payment.Id)).ShouldBe(1);
    }

    public async ValueTask DisposeAsync() => await _grpc.DisposeAsync();
}
