using Ledger.Domain.Payments;
using Ledger.EventStore;
using Ledger.Host.Http;
using static Ledger.Domain.Payments.PaymentEvent;
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
        var state = await FoldAsync(store, id, http.User, atVersion, at, http.RequestAborted);
        return Results.Text(Payments.PaymentResource.From(state).ToJson(), "application/json");
    }

    /// <summary>The payment as of a version or a moment (or now), if <paramref name="user"/> may see it; else not found.</summary>
    public static async Task<Payment> FoldAsync(
        EventLog<PaymentEvent> store, string id, System.Security.Claims.ClaimsPrincipal user, long? atVersion, DateTimeOffset? at, CancellationToken ct)
    {
        // Marten cuts the stream where asked. Ownership is judged on the first event, which a cut keeps unless the
        // payment did not exist yet: then its first event alone says whether it is the caller's to know about.
        var events = await store.FetchStreamAsync(id, atVersion, at, ct);
        var first = events.Count > 0 ? events[0] : (await store.FetchStreamAsync(id, toVersion: 1, ct: ct)).FirstOrDefault();
        if (first is not PaymentRequested requested || (!user.IsAuditor() && requested.MerchantId != user.MerchantId()))
            throw ApiProblem.PaymentNotFound();
        return Payment.Fold(events)
            ?? throw new ApiProblem(404, "payment_not_found", "Payment not found at that point.", "The payment did not exist yet at that moment.");
    }
}
