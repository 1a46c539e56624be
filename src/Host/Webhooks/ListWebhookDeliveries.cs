using Ledger.Host.Http;
using Microsoft.OpenApi;
using Npgsql;
using Wolverine.Http;

namespace Ledger.Host.Webhooks;

/// <summary>GET /v1/webhook-endpoints/{id}/deliveries: newest first, keyset-paged, each with every attempt.</summary>
public static class ListWebhookDeliveries
{
    public static readonly string[] Statuses = ["pending", "delivered", "dead", "canceled"];

    public static void Configure(HttpChain chain) =>
        chain.Metadata.RequireAuthorization(Policies.Reader)
            .WithTags("Webhooks").WithName("ListWebhookDeliveries").WithSummary("An endpoint's deliveries, newest first")
            .WithDescription("Each delivery with its status (pending, delivered, dead, canceled) and every attempt: time, HTTP status, error.")
            .Produces<WebhookDeliveryList>().Problems(400, 404)
            .WithMetadata(
                new QueryParameter("status", "pending | delivered | dead | canceled"),
                new QueryParameter("limit", "1-100, default 10.", JsonSchemaType.Integer),
                new QueryParameter("startingAfter", "The id of the last delivery of the previous page."));

    [WolverineGet("/v1/webhook-endpoints/{id}/deliveries")]
    public static async Task<IResult> Handle(string id, HttpContext http, NpgsqlDataSource db)
    {
        var query = new Query(http.Request);
        var status = query.OneOf("status", Statuses);
        var limit = query.Int("limit", 10, 1, 100);
        var startingAfter = query.Text("startingAfter", 64);
        query.ThrowIfInvalid();
        var ct = http.RequestAborted;
        var endpoint = await WebhookEndpointResource.FindAsync(db, id, http.User.IsAuditor() ? null : http.User.MerchantId(), ct);
        await using var cmd = db.CreateCommand($"""
            select {WebhookDeliveryResource.Columns} from webhook_deliveries
            where endpoint_id = $1 and ($2::text is null or status = $2)
              and ($3::text is null or (created_at, id) < (select created_at, id from webhook_deliveries where id = $3 and endpoint_id = $1))
            order by created_at desc, id desc
            limit $4
            """);
        cmd.Parameters.Add(new NpgsqlParameter<string> { TypedValue = endpoint.Id });
        cmd.Parameters.Add(new NpgsqlParameter { Value = (object?)status ?? DBNull.Value, NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Text });
        cmd.Parameters.Add(new NpgsqlParameter { Value = (object?)startingAfter ?? DBNull.Value, NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Text });
        cmd.Parameters.Add(new NpgsqlParameter<int> { TypedValue = limit + 1 });
        var page = await WebhookDeliveryResource.ReadAsync(db, cmd, ct);
        if (startingAfter is not null && page.Count == 0 && !await ExistsAsync(db, endpoint.Id, startingAfter, ct))
            throw ApiProblem.Validation("startingAfter", "Not a delivery id of this endpoint from a previous page.");
        var hasMore = page.Count > limit;
        var body = new WebhookDeliveryList(hasMore ? page[..limit] : page, hasMore);
        return Results.Text(System.Text.Json.JsonSerializer.Serialize(body, ApiJson.Default.WebhookDeliveryList), "application/json");
    }

    private static async Task<bool> ExistsAsync(NpgsqlDataSource db, string endpointId, string deliveryId, CancellationToken ct)
    {
        await using var cmd = db.CreateCommand("select exists (select 1 from webhook_deliveries where id = $1 and endpoint_id = $2)");
        cmd.Parameters.Add(new NpgsqlParameter<string> { TypedValue = deliveryId });
        cmd.Parameters.Add(new NpgsqlParameter<string> { TypedValue = endpointId });
        return (bool)(await cmd.ExecuteScalarAsync(ct))!;
    }
}
