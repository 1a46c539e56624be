using Ledger.Domain.Payments;
using Ledger.EventStore;
using Ledger.Host.Http;
using static Ledger.Domain.Payments.PaymentEvent;
using Wolverine.Http;

namespace Ledger.Host.Auditing;

/// <summary>GET /v1/payments/{id}/events: the stream, oldest first, with its hash chain. A merchant sees only its own.</summary>
public static class GetStreamEvents
{
    public static void Configure(HttpChain chain) =>
        chain.Metadata.RequireAuthorization(Policies.Reader)
            .WithTags("Auditing").WithName("GetPaymentEvents").WithSummary("A payment's events, oldest first, with the hash chain")
            .WithDescription("hash = SHA-256(previousHash || contentHash); docs/events.md defines the content hash (canonical JSON, SHA-256).")
            .Produces<StreamResource>().Problems(404);

    [WolverineGet("/v1/payments/{id}/events")]
    public static async Task<IResult> Handle(string id, HttpContext http, EventLog<PaymentEvent> store)
    {
        var events = await ReadVisibleAsync(store, id, http, toVersion: null, toTime: null);
        var body = new StreamResource(id, events[^1].Version, events.Select(EventResource.From).ToList());
        return Results.Text(System.Text.Json.JsonSerializer.Serialize(body, ApiJson.Default.StreamResource), "application/json");
    }

    /// <summary>The stream's events up to a point, or a 404 if it does not exist or belongs to another merchant.</summary>
    public static Task<IReadOnlyList<StoredEvent<PaymentEvent>>> ReadVisibleAsync(
        EventLog<PaymentEvent> store, string id, HttpContext http, long? toVersion, DateTimeOffset? toTime) =>
        ReadVisibleAsync(store, id, http.User, toVersion, toTime, http.RequestAborted);

    public static async Task<IReadOnlyList<StoredEvent<PaymentEvent>>> ReadVisibleAsync(
        EventLog<PaymentEvent> store, string id, System.Security.Claims.ClaimsPrincipal user, long? toVersion, DateTimeOffset? toTime, CancellationToken ct)
    {
        var events = await store.ReadStreamAsync(id, toVersion, toTime, ct);
        var owner = events is [{ Data: PaymentRequested requested }, ..] ? requested.MerchantId : null;
        if (owner is null || (!user.IsAuditor() && owner != user.MerchantId())) throw ApiProblem.PaymentNotFound();
        return events;
    }
}
