using Ledger.Host.Http;
using Microsoft.OpenApi;
using Npgsql;
using Wolverine.Http;

namespace Ledger.Host.Webhooks;

/// <summary>GET /v1/webhook-endpoints: the live endpoints, newest first, keyset-paged; a merchant's own, or everyone's for the auditor.</summary>
public static class ListWebhookEndpoints
{
    public static void Configure(HttpChain chain) =>
        chain.Metadata.RequireAuthorization(Policies.Reader)
            .WithTags("Webhooks").WithName("ListWebhookEndpoints").WithSummary("Webhook endpoints, newest first")
            .WithDescription("A merchant sees its own, the auditor everyone's. Secrets are never listed.")
            .Produces<WebhookEndpointList>().Problems(400)
            .WithMetadata(
                new QueryParameter("limit", "1-100, default 10.", JsonSchemaType.Integer),
                new QueryParameter("startingAfter", "The id of the last endpoint of the previous page."));

    [WolverineGet("/v1/webhook-endpoints")]
    public static async Task<IResult> Handle(HttpContext http, NpgsqlDataSource db)
    {
        var query = new Query(http.Request);
        var limit = query.Int("limit", 10, 1, 100);
        var startingAfter = query.Text("startingAfter", 64);
        query.ThrowIfInvalid();
        var merchant = http.User.IsAuditor() ? null : http.User.MerchantId();
        var ct = http.RequestAborted;
        WebhookEndpointResource? after = null;
        if (startingAfter is not null)
        {
            try
            {
                after = await WebhookEndpointResource.FindAsync(db, startingAfter, merchant, ct);
            }
            catch (ApiProblem)
            {
                throw ApiProblem.Validation("startingAfter", "Not a webhook endpoint id from a previous page.");
            }
        }
        await using var cmd = db.CreateCommand($"""
            select {WebhookEndpointResource.Columns} from webhook_endpoints
            where deleted_at is null and ($1::text is null or merchant_id = $1)
              and ($2::timestamptz is null or (created_at, id) < ($2, $3))
            order by created_at desc, id desc
            limit $4
            """);
        cmd.Parameters.Add(new NpgsqlParameter { Value = (object?)merchant ?? DBNull.Value, NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Text });
        cmd.Parameters.Add(new NpgsqlParameter { Value = (object?)after?.CreatedAt ?? DBNull.Value, NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.TimestampTz });
        cmd.Parameters.Add(new NpgsqlParameter { Value = (object?)after?.Id ?? DBNull.Value, NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Text });
        cmd.Parameters.Add(new NpgsqlParameter<int> { TypedValue = limit + 1 });
        var page = new List<WebhookEndpointResource>(limit + 1);
        await using (var reader = await cmd.ExecuteReaderAsync(ct))
            while (await reader.ReadAsync(ct)) page.Add(WebhookEndpointResource.FromRow(reader));
        var hasMore = page.Count > limit;
        var body = new WebhookEndpointList(hasMore ? page[..limit] : page, hasMore);
        return Results.Text(System.Text.Json.JsonSerializer.Serialize(body, ApiJson.Default.WebhookEndpointList), "application/json");
    }
}
