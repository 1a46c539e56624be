using Ledger.Host.Http;
using Npgsql;

namespace Ledger.Host.Webhooks;

/// <summary>A webhook endpoint as the API shows it: never its secret, which only its creation answers with.</summary>
public sealed record WebhookEndpointResource(string Id, string MerchantId, string Url, IReadOnlyList<string> Events, string? Description, DateTime CreatedAt)
{
    public const string Columns = "id, merchant_id, url, event_types, description, created_at";

    public static WebhookEndpointResource FromRow(NpgsqlDataReader r) =>
        new(r.GetString(0), r.GetString(1), r.GetString(2), r.GetFieldValue<string[]>(3), r.IsDBNull(4) ? null : r.GetString(4), r.GetDateTime(5));

    /// <summary>A live endpoint <paramref name="merchantId"/> (null: anyone's, for the auditor) may see; else a 404, existence not leaked.</summary>
    public static async Task<WebhookEndpointResource> FindAsync(NpgsqlDataSource db, string id, string? merchantId, CancellationToken ct)
    {
        await using var cmd = db.CreateCommand($"""
            select {Columns} from webhook_endpoints
            where id = $1 and deleted_at is null and ($2::text is null or merchant_id = $2)
            """);
        cmd.Parameters.Add(new NpgsqlParameter<string> { TypedValue = id });
        cmd.Parameters.Add(new NpgsqlParameter { Value = (object?)merchantId ?? DBNull.Value, NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Text });
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        return await reader.ReadAsync(ct) ? FromRow(reader) : throw NotFound();
    }

    public static ApiProblem NotFound() =>
        new(404, "webhook_endpoint_not_found", "Webhook endpoint not found.", "No webhook endpoint with that id exists for this account.");
}

/// <summary>The answer to a creation: the endpoint and its signing secret, shown this once.</summary>
public sealed record WebhookEndpointCreated(
    string Id, string MerchantId, string Url, IReadOnlyList<string> Events, string? Description, DateTime CreatedAt, string Secret);

public sealed record WebhookEndpointList(IReadOnlyList<WebhookEndpointResource> Data, bool HasMore);

public sealed record WebhookEndpointDeleted(string Id, bool Deleted);
