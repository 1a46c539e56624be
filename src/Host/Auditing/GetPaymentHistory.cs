using Ledger.Domain.Payments;
using Ledger.EventStore;
using Ledger.Host.Http;
using Wolverine.Http;

namespace Ledger.Host.Auditing;

/// <summary>
/// GET /v1/payments/{id}/history?atVersion=N or ?at=TIME: the payment folded from its own events up to that point,
/// not read from the read model.
/// </summary>
public static class GetPaymentHistory
{
    public static void Configure(HttpChain chain) =>
        chain.Metadata.RequireAuthorization(Policies.Reader)
            .WithTags("Auditing").WithName("GetPaymentHistory").WithSummary("The payment folded from its events up to a version or a moment")
            .WithDescription("Folded from the log, not read from the read model. 404 if the payment did not exist yet.")
            .Produces<Payments.PaymentResource>().Problems(400, 404)
            .WithMetadata(
                new QueryParameter("atVersion", "Fold up to this version (from 1).", Microsoft.OpenApi.JsonSchemaType.Integer),
                new QueryParameter("at", "Fold up to this moment (RFC 3339).", Format: "date-time"));

    [WolverineGet("/v1/payments/{id}/history")]
    public static async Task<IResult> Handle(string id, HttpContext http, EventLog<PaymentEvent> store)
    {
        var query = new Query(http.Request);
        var atVersion = query.Long("atVersion", min: 1);
        var at = query.Time("at");
        if (atVersion is not null && at is not null) query.Fail("at", "Give atVersion or at, not both.");
        query.ThrowIfInvalid();

        // One read of the stream: ownership is judged on its first event, then it is cut where asked.
        var events = await GetStreamEvents.ReadVisibleAsync(store, id, http, toVersion: null, toTime: null);
        var state = Payment.Fold(events.Where(e => e.Version <= (atVersion ?? long.MaxValue) && (at is null || e.OccurredAt <= at)).Select(e => e.Data))
            ?? throw new ApiProblem(404, "payment_not_found", "Payment not found at that point.", "The payment did not exist yet at that moment.");
        return Results.Text(Payments.PaymentResource.From(state).ToJson(), "application/json");
    }
}
