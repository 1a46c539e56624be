using Ledger.Host.Http;
using Npgsql;
using Wolverine.Http;

namespace Ledger.Host.Webhooks;

/// <summary>GET /v1/webhook-endpoints/{id}: without its secret. Another merchant's, or a deleted one, is a 404.</summary>
public static class GetWebhookEndpoint
{
    public static void Configure(HttpChain chain) =>
        chain.Metadata.RequireAuthorization(Policies.Reader)
            .WithTags("Webhooks").WithName("GetWebhookEndpoint").WithSummary("A webhook endpoint")
            .WithDescription("The secret is never shown again after creation.")
            .Produces<WebhookEndpointResource>().Problems(404);

    [WolverineGet("/v1/webhook-endpoints/{id}")]
    public static async Task<IResult> Handle(string id, HttpContext http, NpgsqlDataSource db)
    {
        var endpoint = await WebhookEndpointResource.FindAsync(db, id, http.User.IsAuditor() ? null : http.User.MerchantId(), http.RequestAborted);
        return Results.Text(System.Text.Json.JsonSerializer.Serialize(endpoint, ApiJson.Default.WebhookEndpointResource), "application/json");
    }
}
