using Npgsql;

namespace Ledger.Host.Webhooks;

/// <summary>One try at a delivery: when, the receiver's HTTP status (none if it never answered), and why it failed.</summary>
public sealed record WebhookAttemptResource(int Attempt, DateTime At, int? StatusCode, string? Error, int DurationMs);

/// <summary>
/// A delivery of one event to one endpoint: pending (retrying), delivered, dead (retried for Ledger:Webhooks:RetryFor from
/// its first failure without success; POST .../retry sends it again) or canceled (its endpoint was deleted); with every attempt.
/// </summary>
public sealed record WebhookDeliveryResource(
    string Id, string EndpointId, string EventId, string EventType, string PaymentId, string Status, int AttemptCount,
    DateTime? NextAttemptAt, DateTime? RetryUntil, DateTime CreatedAt, DateTime? DeliveredAt, IReadOnlyList<WebhookAttemptResource> Attempts)
{
    public const string Columns = "id, endpoint_id, event_id, event_type, payment_id, status, attempt_count, next_attempt_at, retry_until, created_at, delivered_at";

    public static WebhookDeliveryResource FromRow(NpgsqlDataReader r, IReadOnlyList<WebhookAttemptResource> attempts) => new(
        r.GetString(0), r.GetString(1), r.GetString(2), r.GetString(3), r.GetString(4), r.GetString(5), r.GetInt32(6),
        r.IsDBNull(7) ? null : r.GetDateTime(7), r.IsDBNull(8) ? null : r.GetDateTime(8), r.GetDateTime(9), r.IsDBNull(10) ? null : r.GetDateTime(10), attempts);

    /// <summary>Reads deliveries (the command selects <see cref="Columns"/>) and then their attempts, oldest first, in one more round trip.</summary>
    public static async Task<List<WebhookDeliveryResource>> ReadAsync(NpgsqlDataSource db, NpgsqlCommand query, CancellationToken ct)
    {
        var deliveries = new List<WebhookDeliveryResource>();
        await using (var reader = await query.ExecuteReaderAsync(ct))
            while (await reader.ReadAsync(ct)) deliveries.Add(FromRow(reader, []));
        if (deliveries.Count == 0) return deliveries;
        var attempts = new Dictionary<string, List<WebhookAttemptResource>>();
        await using (var cmd = db.CreateCommand(
            "select delivery_id, attempt, at, status_code, error, duration_ms from webhook_attempts where delivery_id = any($1) order by delivery_id, attempt"))
        {
            cmd.Parameters.Add(new NpgsqlParameter<string[]> { TypedValue = deliveries.Select(d => d.Id).ToArray() });
            await using var reader = await cmd.ExecuteReaderAsync(ct);
            while (await reader.ReadAsync(ct))
            {
                var id = reader.GetString(0);
                if (!attempts.TryGetValue(id, out var list)) attempts[id] = list = [];
                list.Add(new WebhookAttemptResource(reader.GetInt32(1), reader.GetDateTime(2), reader.IsDBNull(3) ? null : reader.GetInt32(3),
                    reader.IsDBNull(4) ? null : reader.GetString(4), reader.GetInt32(5)));
            }
        }
        return deliveries.Select(d => d with { Attempts = attempts.GetValueOrDefault(d.Id) ?? [] }).ToList();
    }
}

public sealed record WebhookDeliveryList(IReadOnlyList<WebhookDeliveryResource> Data, bool HasMore);
