using System.Security.Claims;
using System.Text.Json;
using System.Text.Json.Nodes;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Ledger.Domain.Money;
using PaymentEvent = Ledger.Domain.Payments.PaymentEvent;
using Ledger.EventStore;
using Ledger.Grpc.V1;
using Ledger.Host.Gateway;
using Ledger.Host.Http;
using Ledger.Host.Payments;
using CreatePaymentRequest = Ledger.Grpc.V1.CreatePaymentRequest;
using Payment = Ledger.Grpc.V1.Payment;
using Npgsql;

namespace Ledger.Host.Grpc;

/// <summary>
/// ledger.v1.Payments (proto/ledger/v1/payments.proto): the HTTP API's payments for gRPC callers, on the same code. The
/// writes go through <see cref="RequestPayment.ChargeAsync"/> and <see cref="RefundPayment.RefundAsync"/> under the same
/// idempotency records (a call is fingerprinted as the HTTP request with the same fields would be, so a key moves between
/// the two); the reads are the same queries. Answers are the HTTP answers' resources, translated (<see cref="GrpcMapping"/>).
/// Reads go to the primary (the replica and its Ledger-Read-After token are an HTTP feature).
/// </summary>
public sealed class PaymentsService(
    EventLog<PaymentEvent> store, Idempotency idempotency, IPaymentGateway gateway, ChargeCompletion completion, Secrets secrets,
    Observability.LedgerMeter meter, TimeProvider clock, NpgsqlDataSource db) : Ledger.Grpc.V1.Payments.PaymentsBase
{
    public const string ReplayedHeader = "idempotent-replayed";

    public override async Task<Payment> CreatePayment(CreatePaymentRequest request, ServerCallContext context)
    {
        var http = context.GetHttpContext();
        var merchant = Caller(http).RequireMerchant();
        var key = Idempotency.ParseKey(http.Request);
        var body = new Payments.CreatePaymentRequest(
            request.Amount == 0 ? null : request.Amount, Text(request.Currency), Text(request.OrderId), Text(request.Description),
            request.Metadata.Count == 0 ? null : new Dictionary<string, string>(request.Metadata),
            request.Card is null ? null : new CardInput(Text(request.Card.Number), request.Card.ExpMonth == 0 ? null : request.Card.ExpMonth,
                request.Card.ExpYear == 0 ? null : request.Card.ExpYear, Text(request.Card.Cvc)));
        var read = new ReadBody<Payments.CreatePaymentRequest>(body, GrpcMapping.JsonOf(body), []);
        var (answer, replayed) = await RequestPayment.ChargeAsync(http, merchant, key, read, store, idempotency, gateway, completion, secrets, meter, clock);
        return GrpcMapping.ToPayment(await Answer(answer, replayed, context, ApiJson.Default.PaymentResource));
    }

    public override async Task<Payment> GetPayment(GetPaymentRequest request, ServerCallContext context)
    {
        var http = context.GetHttpContext();
        var payment = await Payments.GetPayment.FindAsync(db, request.Id, Visible(Caller(http)), context.CancellationToken)
            ?? throw ApiProblem.PaymentNotFound();
        return GrpcMapping.ToPayment(payment);
    }

    public override async Task<ListPaymentsResponse> ListPayments(ListPaymentsRequest request, ServerCallContext context)
    {
        var http = context.GetHttpContext();
        var merchant = Visible(Caller(http));
        var errors = new Dictionary<string, string[]>();
        if (request.Limit is < 0 or > 100) errors["limit"] = ["1-100; 0 means 10."];
        if (request.Currency.Length > 0 && !Currency.TryFind(request.Currency, out _)) errors["currency"] = ["Unsupported currency."];
        if (request.OrderId.Length > 64) errors["order_id"] = ["At most 64 characters."];
        if (request.Status != PaymentStatus.Unspecified && !System.Enum.IsDefined(request.Status)) errors["status"] = ["Not a PaymentStatus."];
        if (errors.Count > 0) throw ApiProblem.Validation(errors);
        var limit = request.Limit == 0 ? 10 : request.Limit;
        var ct = context.CancellationToken;
        PaymentCursor? after = null;
        if (request.StartingAfter.Length > 0)
        {
            var cursor = await Payments.GetPayment.FindAsync(db, request.StartingAfter, merchant, ct)
                ?? throw ApiProblem.Validation("starting_after", "Not a payment id from a previous page.");
            after = new PaymentCursor(cursor.CreatedAt, cursor.Id);
        }
        var filter = new PaymentFilter(merchant, GrpcMapping.StatusName(request.Status), Text(request.OrderId), Text(request.Currency),
            request.CreatedFrom?.ToDateTimeOffset(), request.CreatedTo?.ToDateTimeOffset(), after, limit + 1);
        await using var cmd = Payments.ListPayments.Command(db, filter);
        var page = new List<PaymentResource>(limit + 1);
        await using (var reader = await cmd.ExecuteReaderAsync(ct))
            while (await reader.ReadAsync(ct)) page.Add(PaymentResource.FromRow(reader));
        var response = new ListPaymentsResponse { HasMore = page.Count > limit };
        response.Data.AddRange(page.Take(limit).Select(GrpcMapping.ToPayment));
        return response;
    }

    public override async Task<RefundPaymentResponse> RefundPayment(RefundPaymentRequest request, ServerCallContext context)
    {
        var http = context.GetHttpContext();
        var merchant = Caller(http).RequireMerchant();
        var key = Idempotency.ParseKey(http.Request);
        if (request.Reason != RefundReason.Unspecified && !System.Enum.IsDefined(request.Reason))
            throw ApiProblem.Validation("reason", "Not a RefundReason.");
        var body = new CreateRefundRequest(request.Amount == 0 ? null : request.Amount, GrpcMapping.ReasonName(request.Reason),
            request.Metadata.Count == 0 ? null : new Dictionary<string, string>(request.Metadata));
        var read = new ReadBody<CreateRefundRequest>(body, GrpcMapping.JsonOf(body), []);
        var (answer, replayed) = await Payments.RefundPayment.RefundAsync(http, request.PaymentId, merchant, key, read, store, idempotency, meter, clock);
        var created = await Answer(answer, replayed, context, ApiJson.Default.RefundCreated);
        return new RefundPaymentResponse { Refund = GrpcMapping.ToRefund(created.Refund), Payment = GrpcMapping.ToPayment(created.Payment) };
    }

    public override async Task<ListRefundsResponse> ListRefunds(ListRefundsRequest request, ServerCallContext context)
    {
        var http = context.GetHttpContext();
        var refunds = await Payments.ListRefunds.ReadAsync(db, request.PaymentId, Visible(Caller(http)), context.CancellationToken);
        var response = new ListRefundsResponse();
        response.Data.AddRange(refunds.Data.Select(GrpcMapping.ToRefund));
        return response;
    }

    public override async Task<Receipt> GetReceipt(GetReceiptRequest request, ServerCallContext context)
    {
        var http = context.GetHttpContext();
        var receipt = await Payments.GetReceipt.FindAsync(db, request.PaymentId, Visible(Caller(http)), context.CancellationToken)
            ?? throw new ApiProblem(404, "payment_not_found", "Receipt not found.", "No succeeded payment with that id exists for this account.");
        return GrpcMapping.ToReceipt(receipt);
    }

    /// <summary>The caller the bearer scheme found in <c>authorization</c>; UNAUTHENTICATED without a valid key.</summary>
    public static ClaimsPrincipal Caller(HttpContext http) =>
        http.User.Identity?.IsAuthenticated == true ? http.User
            : throw new ApiProblem(401, "unauthorized", "Unauthorized.", "A valid API key is required: metadata authorization: Bearer <key>.");

    /// <summary>Whose payments the caller reads: its own (a merchant), or anyone's (null: the auditor).</summary>
    private static string? Visible(ClaimsPrincipal caller) => caller.IsAuditor() ? null : caller.RequireMerchant();

    private static string? Text(string value) => value.Length == 0 ? null : value;

    /// <summary>A write's answer: its resource, with `idempotent-replayed` on a replay; a stored refusal as its status.</summary>
    private static async Task<T> Answer<T>(StoredResponse answer, bool replayed, ServerCallContext context, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> type)
    {
        if (replayed) await context.WriteResponseHeadersAsync(new global::Grpc.Core.Metadata { { ReplayedHeader, "true" } });
        if (answer.Status >= 400) throw GrpcErrors.FromStoredProblem(answer);
        return JsonSerializer.Deserialize(answer.Body, type)!;
    }
}
