using Microsoft.AspNetCore.Mvc;
using Ledger.Domain.Money;
using Ledger.Domain.Payments;
using Ledger.EventStore;
using Ledger.Host.Http;
using Npgsql;
using Wolverine.Http;

namespace Ledger.Host.Payments;

public sealed record CreateRefundRequest(long? Amount = null, string? Reason = null, Dictionary<string, string>? Metadata = null);

public sealed record RefundResource(string Id, string PaymentId, long Amount, string? Reason, DateTime CreatedAt, string? ReceiptNumber);

public sealed record RefundCreated(RefundResource Refund, PaymentResource Payment);

/// <summary>
/// POST /v1/payments/{id}/refunds. One transaction: PaymentRefunded at the expected version, the projections,
/// and the key's answer. Racing refunds of one payment lose the version race, fold again and decide again, so
/// together they never refund more than was charged. A refusal by the decider (409/422) is remembered too.
/// </summary>
public static class RefundPayment
{
    public const string Endpoint = "POST /v1/payments/{id}/refunds";
    public static readonly string[] Reasons = ["duplicate", "fraudulent", "requested_by_customer"];
    private const int MaxAttempts = 20;

    public static void Configure(HttpChain chain) =>
        chain.Metadata.RequireAuthorization(Policies.Merchant)
            .WithTags("Refunds").WithName("CreateRefund").WithSummary("Refund all or part of a payment")
            .WithDescription("amount defaults to all that remains. Concurrent refunds never refund more than was charged. A refusal (409/422) is remembered under its key.")
            .WithMetadata(new DocumentedBody(typeof(CreateRefundRequest))).Produces<RefundCreated>(StatusCodes.Status201Created)
            .Problems(400, 403, 404, 409, 413, 415, 422).WithMetadata(new RequiresIdempotencyKey());

    [WolverinePost("/v1/payments/{id}/refunds")]
    public static async Task<IResult> Handle(
        string id, HttpContext http, [FromServices] EventLog<PaymentEvent> store, [FromServices] Idempotency idempotency,
        [FromServices] Observability.LedgerMeter meter, [FromServices] TimeProvider clock)
    {
        var merchant = http.User.RequireMerchant();
        var key = Idempotency.ParseKey(http.Request);
        var read = await JsonBody.ReadAsync(http.Request, ApiJson.Default.CreateRefundRequest, http.RequestAborted);
        var (answer, replayed) = await RefundAsync(http, id, merchant, key, read, store, idempotency, meter, clock);
        return new StoredResponseResult(answer, replayed);
    }

    /// <summary>
    /// The refund, whatever it came over (HTTP here, gRPC in Grpc/PaymentsService.cs), under the key's idempotency record,
    /// which both share. The answer is the HTTP one (status and JSON), as stored for replays: a refusal is a stored problem.
    /// </summary>
    public static async Task<(StoredResponse Answer, bool Replayed)> RefundAsync(
        HttpContext http, string id, string merchant, string key, ReadBody<CreateRefundRequest> read,
        EventLog<PaymentEvent> store, Idempotency idempotency, Observability.LedgerMeter meter, TimeProvider clock)
    {
        var (body, raw) = (read.Value, read.Raw);
        Validate(read);

        var scope = new IdempotencyScope(merchant, Endpoint, key);
        var fingerprint = idempotency.Fingerprint("POST", $"/v1/payments/{id}/refunds", raw);
        var metadata = new EventMetadata(CorrelationId.Of(http), $"request:{http.TraceIdentifier}", key, http.User.Actor());
        var refundId = $"re_{Guid.NewGuid():N}";
        var command = new PaymentCommand.RefundPayment(refundId, body.Amount, body.Reason ?? "requested_by_customer", body.Metadata ?? [], clock.Now());
        // A key seen before is answered from its record, without folding or appending anything.
        return await idempotency.RunAsync(scope, fingerprint, async ct =>
        {
            var history = await store.ReadStreamAsync(id, ct: ct);
            if (Payment.Fold(history.Select(e => e.Data)) is not { } state || state.MerchantId != merchant)
                throw ApiProblem.PaymentNotFound();
            for (var attempt = 1; ; attempt++)
            {
                var (events, response) = Decide(command, state);
                try
                {
                    await store.AppendAsync(id, state.Version, events, metadata,
                        commands => commands.Add(idempotency.Remember(scope, fingerprint, refundId, response, clock.Now())), ct,
                        streamState: state);
                    if (events.Length > 0) meter.Refunded();
                    return response;
                }
                catch (ConcurrencyException) when (attempt < MaxAttempts)
                {
                    state = Payment.Fold((await store.ReadStreamAsync(id, ct: ct)).Select(e => e.Data))!;
                }
            }
        });
    }

    /// <summary>The events and the answer: 201 with the refund, or the decider's refusal as a problem.</summary>
    private static (PaymentEvent[] Events, StoredResponse Response) Decide(PaymentCommand.RefundPayment command, Payment state)
    {
        try
        {
            var events = PaymentDecider.Decide(command, state);
            var after = events.Aggregate((Payment?)state, Payment.Evolve)!;
            var refund = after.Refunds.Single(r => r.RefundId == command.RefundId);
            var body = new RefundCreated(Resource(refund, after), PaymentResource.From(after));
            return (events, new StoredResponse(201, System.Text.Json.JsonSerializer.Serialize(body, ApiJson.Default.RefundCreated), null));
        }
        catch (PaymentRejected rejected)
        {
            var problem = Problems.ToProblem(rejected)!;
            return ([], new StoredResponse(problem.Status, Problems.Serialize(problem, correlationId: null), null));
        }
    }

    public static RefundResource Resource(Refund r, Payment p) =>
        new(r.RefundId, p.Id, r.Amount, r.Reason, r.At.UtcDateTime, p.ReceiptNumber);

    private static void Validate(ReadBody<CreateRefundRequest> body)
    {
        var r = body.Value;
        void Error(string field, string message) => body.Error(field, message);
        if (r.Amount is { } amount && !Amount.IsValid(amount)) Error("amount", $"Must be between {Amount.Min} and {Amount.Max} minor units.");
        if (r.Reason is not null && !Reasons.Contains(r.Reason)) Error("reason", $"Must be one of: {string.Join(", ", Reasons)}.");
        Metadata.Validate(r.Metadata, Error);
        body.ThrowIfInvalid();
    }
}
