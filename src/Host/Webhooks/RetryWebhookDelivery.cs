using Ledger.Host.Http;
using Microsoft.AspNetCore.Mvc;
using Npgsql;
using Wolverine.Http;

namespace Ledger.Host.Webhooks;

/// <summary>
/// POST /v1/webhook-endpoints/{id}/deliveries/{deliveryId}/retry: send a delivery again now (dead, delivered or still
/// pending), with the same event id and body, and a fresh Ledger:Webhooks:RetryFor of retries from its next failure. Asking twice is the same
/// as asking once. 202: it is queued; the deliveries listing shows how it went.
/// </summary>
public static class RetryWebhookDelivery
{
    public static void Configure(HttpChain chain) =>
        chain.Metadata.RequireAuthorization(Policies.Merchant)
            .WithTags("Webhooks").WithName("RetryWebhookDelivery").WithSummary("Send a delivery again")
            .WithDescription("Queues the delivery now, with the same event id and body, retried again for Ledger:Webhooks:RetryFor. A canceled delivery (of a deleted endpoint) cannot be retried.")
            .Produces<WebhookDeliveryResource>(StatusCodes.Status202Accepted).Problems(403, 404);

    [WolverinePost("/v1/webhook-endpoints/{id}/deliveries/{deliveryId}/retry")]
    public static async Task<IResult> Handle(
        string id, string deliveryId, HttpContext http, [FromServices] NpgsqlDataSource db,
        [FromServices] TimeProvider clock)
    {
        var merchant = http.User.RequireMerchant();
        var ct = http.RequestAborted;
        var endpoint = await WebhookEndpointResource.FindAsync(db, id, merchant, ct);
        var now = clock.Now();
        await using var batch = db.CreateBatch();
        var retry = new NpgsqlBatchCommand($"""
            update webhook_deliveries set status = 'pending', next_attempt_at = $3, retry_until = null
            where id = $1 and endpoint_id = $2 and status <> 'canceled'
            """);
        retry.Parameters.Add(new NpgsqlParameter<string> { TypedValue = deliveryId });
        retry.Parameters.Add(new NpgsqlParameter<string> { TypedValue = endpoint.Id });
        retry.Parameters.Add(new NpgsqlParameter<DateTime> { TypedValue = now.UtcDateTime, NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.TimestampTz });
        batch.BatchCommands.Add(retry);
        batch.BatchCommands.Add(new NpgsqlBatchCommand($"select pg_notify('{WebhookFanOut.Channel}', '')"));
        await batch.ExecuteNonQueryAsync(ct);
        if (retry.RecordsAffected == 0)
            throw new ApiProblem(404, "webhook_delivery_not_found", "Webhook delivery not found.", "No delivery with that id can be retried on this endpoint.");

        await using var read = db.CreateCommand($"select {WebhookDeliveryResource.Columns} from webhook_deliveries where id = $1");
        read.Parameters.Add(new NpgsqlParameter<string> { TypedValue = deliveryId });
        var delivery = (await WebhookDeliveryResource.ReadAsync(db, read, ct)).Single();
        return Results.Text(System.Text.Json.JsonSerializer.Serialize(delivery, ApiJson.Default.WebhookDeliveryResource), "application/json",
            statusCode: StatusCodes.Status202Accepted);
    }
}
