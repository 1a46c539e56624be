using Ledger.Domain.Payments;
using Ledger.EventStore;
using Ledger.Host.Http;
using Wolverine.Http;

namespace Ledger.Host.Auditing;

/// <summary>GET /v1/events?after=&amp;limit=: the global log for auditors, in commit-safe order.</summary>
public static class ReadEventLog
{
    public static void Configure(HttpChain chain) =>
        chain.Metadata.RequireAuthorization(Policies.Auditor)
            .WithTags("Auditing").WithName("ReadEventLog").WithSummary("The global log, in commit-safe order (auditors)")
            .WithDescription("Ordered by (transaction, sequence) and cut at the oldest transaction in flight: no event is ever skipped or repeated.")
            .Produces<EventPage>().Problems(400, 403)
            .WithMetadata(
                new QueryParameter("after", "Sequence to continue after (nextAfter of the previous page); default 0.", Microsoft.OpenApi.JsonSchemaType.Integer),
                new QueryParameter("limit", "1-1000, default 100.", Microsoft.OpenApi.JsonSchemaType.Integer));

    [WolverineGet("/v1/events")]
    public static async Task<IResult> Handle(HttpContext http, EventLog<PaymentEvent> store)
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
