using Ledger.Domain.Payments;
using Ledger.EventStore;
using Ledger.Host.Http;
using static Ledger.Domain.Payments.PaymentEvent;

namespace Ledger.Host.Auditing;

/// <summary>GET /v1/payments/{id}/events: the stream, oldest first, with its hash chain. A merchant sees only its own.</summary>
public static class GetStreamEvents
{
    public static void MapGetStreamEvents(this IEndpointRouteBuilder app) =>
        app.MapGet("/v1/payments/{id}/events", Handle).RequireAuthorization(Policies.Reader)
            .WithTags("Auditing").WithName("GetPaymentEvents").WithSummary("A payment's events, oldest first, with the hash chain")
            .WithDescription("hash = SHA-256(previousHash || canonical event); see docs/events.md for the canonical form.")
            .Produces<StreamResource>().Problems(404);

    private static async Task<IResult> Handle(string id, HttpContext http, EventLog<PaymentEvent> store)
    {
        var events = await ReadVisibleAsync(store, id, http, toVersion: null, toTime: null);
        var body = new StreamResource(id, events[^1].Version, events.Select(EventResource.From).ToList());
        return Results.Text(System.Text.Json.JsonSerializer.Serialize(body, ApiJson.Default.StreamResource), "application/json");
    }

    /// <summary>The stream's events up to a point, or a 404 if it does not exist or belongs to another merchant.</summary>
    public static async Task<IReadOnlyList<StoredEvent<PaymentEvent>>> ReadVisibleAsync(
        EventLog<PaymentEvent> store, string id, HttpContext http, long? toVersion, DateTimeOffset? toTime)
    {
        var events = await store.ReadStreamAsync(id, toVersion, toTime, http.RequestAborted);
        var owner = events is [{ Data: PaymentRequested requested }, ..] ? requested.MerchantId : null;
        if (owner is null || (!http.User.IsAuditor() && owner != http.User.MerchantId())) throw ApiProblem.PaymentNotFound();
        return events;
    }
}

/// <summary>
/// GET /v1/payments/{id}/history?atVersion=N or ?at=TIME: the payment folded from its own events up to that point,
/// not read from the read model.
/// </summary>
public static class GetPaymentHistory
{
    public static void MapGetPaymentHistory(this IEndpointRouteBuilder app) =>
        app.MapGet("/v1/payments/{id}/history", Handle).RequireAuthorization(Policies.Reader)
            .WithTags("Auditing").WithName("GetPaymentHistory").WithSummary("The payment folded from its events up to a version or a moment")
            .WithDescription("Folded from the log, not read from the read model. 404 if the payment did not exist yet.")
            .Produces<Payments.PaymentResource>().Problems(400, 404)
            .WithMetadata(
                new QueryParameter("atVersion", "Fold up to this version (from 1).", Microsoft.OpenApi.JsonSchemaType.Integer),
                new QueryParameter("at", "Fold up to this moment (RFC 3339).", Format: "date-time"));

    private static async Task<IResult> Handle(string id, HttpContext http, EventLog<PaymentEvent> store)
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

/// <summary>GET /v1/events?after=&amp;limit=: the global log for auditors, in commit-safe order.</summary>
public static class ReadEventLog
{
    public static void MapReadEventLog(this IEndpointRouteBuilder app) =>
        app.MapGet("/v1/events", Handle).RequireAuthorization(Policies.Auditor)
            .WithTags("Auditing").WithName("ReadEventLog").WithSummary("The global log, in commit-safe order (auditors)")
            .WithDescription("Ordered by (transaction, sequence) and cut at the oldest transaction in flight: no event is ever skipped or repeated.")
            .Produces<EventPage>().Problems(400, 403)
            .WithMetadata(
                new QueryParameter("after", "Sequence to continue after (nextAfter of the previous page); default 0.", Microsoft.OpenApi.JsonSchemaType.Integer),
                new QueryParameter("limit", "1-1000, default 100.", Microsoft.OpenApi.JsonSchemaType.Integer));

    private static async Task<IResult> Handle(HttpContext http, EventLog<PaymentEvent> store)
    {
        var query = new Query(http.Request);
        var after = query.Long("after", min: 0) ?? 0;
        var limit = query.Int("limit", 100, 1, 1000);
        query.ThrowIfInvalid();
        var page = await store.ReadAllAsync(after, limit, http.RequestAborted);
        var body = new EventPage(page.Events.Select(EventResource.From).ToList(), page.NextAfter, page.HasMore);
        return Results.Text(System.Text.Json.JsonSerializer.Serialize(body, ApiJson.Default.EventPage), "application/json");
    }
}
