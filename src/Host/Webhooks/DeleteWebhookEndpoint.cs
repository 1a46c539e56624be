using Ledger.Host.Http;
using Npgsql;
using Wolverine.Http;

namespace Ledger.Host.Webhooks;

/// <summary>
/// DELETE /v1/webhook-endpoints/{id}: no further deliveries, and those still pending are canceled, in one transaction.
/// The endpoint's deliveries and attempts are kept (an audit trail); it no longer appears in the API.
/// </summary>
public static class DeleteWebhookEndpoint
{
    public static void Configure(HttpChain chain) =>
        chain.Metadata.RequireAuthorization(Policies.Merchant)
            .WithTags("Webhooks").WithName("DeleteWebhookEndpoint").WithSummary("Delete a webhook endpoint")
            .WithDescription("Pending deliveries are canceled. Deleting an endpoint that is already gone is a 404.")
            .Produces<WebhookEndpointDeleted>().Problems(403, 404);

    [WolverineDelete("/v1/webhook-endpoints/{id}")]
    public static async Task<IResult> Handle(
        string id, HttpContext http, [Microsoft.AspNetCore.Mvc.FromServices] NpgsqlDataSource db, [Microsoft.AspNetCore.Mvc.FromServices] TimeProvider clock)
    {
        var merchant = http.User.RequireMerchant();
        await using var batch = db.CreateBatch(); // one implicit transaction
        var delete = new NpgsqlBatchCommand(
            "update webhook_endpoints set deleted_at = $3 where id = $1 and merchant_id = $2 and deleted_at is null");
        delete.Parameters.Add(new NpgsqlParameter<string> { TypedValue = id });
        delete.Parameters.Add(new NpgsqlParameter<string> { TypedValue = merchant });
        delete.Parameters.Add(new NpgsqlParameter<DateTime> { TypedValue = clock.Now().UtcDateTime, NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.TimestampTz });
        var cancel = new NpgsqlBatchCommand("""
            update webhook_deliveries set status = 'canceled', next_attempt_at = null
            where endpoint_id = $1 and status = 'pending' and exists (select 1 from webhook_endpoints where id = $1 and merchant_id = $2)
            """);
        cancel.Parameters.Add(new NpgsqlParameter<string> { TypedValue = id });
        cancel.Parameters.Add(new NpgsqlParameter<string> { TypedValue = merchant });
        batch.BatchCommands.Add(delete);
        batch.BatchCommands.Add(cancel);
        await batch.ExecuteNonQueryAsync(http.RequestAborted);
        if (delete.RecordsAffected == 0) throw WebhookEndpointResource.NotFound();
        return Results.Text(System.Text.Json.JsonSerializer.Serialize(new WebhookEndpointDeleted(id, true), ApiJson.Default.WebhookEndpointDeleted),
            "application/json");
    }
}
