using Ledger.Domain.Payments;
using Ledger.EventStore;
using Ledger.Host.Notifications;
using Npgsql;
using NpgsqlTypes;

namespace Ledger.Host.Webhooks;

/// <summary>
/// The Wolverine handler of the outbox's notifications, a batch at a time from a durable local queue: each becomes one
/// delivery per endpoint of its merchant that takes its type. A notification is marked handled only after its batch's
/// deliveries commit, so a crash in between hands it to the next run, and the deliveries' unique (endpoint, event) keeps
/// a second run from doubling them.
/// </summary>
public static class FanOutToWebhooks
{
    public const string Queue = "webhook-fan-out";

    public static Task Handle(PaymentNotification[] notifications, WebhookFanOut fanOut, CancellationToken cancellation) =>
        fanOut.RunAsync(notifications, cancellation);
}

/// <summary>
/// Turns notifications into deliveries (table webhook_deliveries), in one transaction per batch, and wakes the dispatcher.
/// Order: a payment's first event a merchant sees (succeeded or failed) has nothing before it; for a later one (a refund)
/// the payment's stream is read and every earlier event the endpoint takes gets its delivery too, in the same statement.
/// So whatever order notifications arrive in (from two hosts, or one recovered after a crash), an endpoint never has a
/// payment's later event without the earlier ones, and the dispatcher sends each only after those before it.
/// </summary>
public sealed class WebhookFanOut(WebhookDatabase webhooks, EventLog<PaymentEvent> store, TimeProvider clock)
{
    private readonly NpgsqlDataSource db = webhooks.Source;

    /// <summary>The PostgreSQL channel the dispatcher listens on: new deliveries to send.</summary>
    public const string Channel = "ledger_webhooks";

    private sealed record Endpoint(string Id, string MerchantId, string[] Types, DateTime CreatedAt);

    /// <returns>The deliveries written.</returns>
    public async Task<int> RunAsync(IReadOnlyCollection<PaymentNotification> notifications, CancellationToken ct)
    {
        var endpoints = await EndpointsAsync(notifications.Select(n => n.MerchantId).Distinct().ToArray(), ct);
        if (endpoints.Count == 0) return 0;
        var events = await WithEarlierEventsAsync(notifications.Where(n => endpoints.ContainsKey(n.MerchantId)).ToList(), ct);

        var now = clock.Now();
        var rows = (from n in events
                    from e in endpoints[n.MerchantId]
                    where e.Types.Contains(n.Type) && n.CreatedAt >= e.CreatedAt
                    select (Endpoint: e, Event: n)).ToList();
        if (rows.Count == 0) return 0;

        await using var batch = db.CreateBatch(); // one implicit transaction
        var insert = new NpgsqlBatchCommand("""
            insert into webhook_deliveries
                (id, endpoint_id, merchant_id, event_id, event_type, payment_id, version, body, status, next_attempt_at, created_at,
                 correlation_id, traceparent)
            select r.id, r.endpoint_id, r.merchant_id, r.event_id, r.event_type, r.payment_id, r.version, r.body, 'pending', $9, $9,
                   r.correlation_id, r.traceparent
            from unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::bigint[], $8::text[], $10::text[], $11::text[])
                as r (id, endpoint_id, merchant_id, event_id, event_type, payment_id, version, body, correlation_id, traceparent)
            join webhook_endpoints e on e.id = r.endpoint_id and e.deleted_at is null
            on conflict (endpoint_id, event_id) do nothing
            """);
        Array(insert, rows.Select(_ => $"whd_{Guid.NewGuid():N}"));
        Array(insert, rows.Select(r => r.Endpoint.Id));
        Array(insert, rows.Select(r => r.Event.MerchantId));
        Array(insert, rows.Select(r => r.Event.Id));
        Array(insert, rows.Select(r => r.Event.Type));
        Array(insert, rows.Select(r => r.Event.PaymentId));
        insert.Parameters.Add(new NpgsqlParameter<long[]> { TypedValue = rows.Select(r => r.Event.Version).ToArray() });
        Array(insert, rows.Select(r => r.Event.WebhookBody()));
        insert.Parameters.Add(new NpgsqlParameter<DateTime> { TypedValue = now.UtcDateTime, NpgsqlDbType = NpgsqlDbType.TimestampTz });
        Array(insert, rows.Select(r => r.Event.CorrelationId));
        Array(insert, rows.Select(r => r.Event.TraceParent));
        batch.BatchCommands.Add(insert);
        batch.BatchCommands.Add(new NpgsqlBatchCommand($"select pg_notify('{Channel}', '')"));
        await batch.ExecuteNonQueryAsync(ct);
        return insert.RecordsAffected;
    }

    private static void Array(NpgsqlBatchCommand command, IEnumerable<string?> values) =>
        command.Parameters.Add(new NpgsqlParameter<string[]> { TypedValue = values.ToArray()! }); // nulls are SQL nulls

    /// <summary>The notifications, with every earlier event a merchant sees of each refunded payment, read from the log.</summary>
    private async Task<List<PaymentNotification>> WithEarlierEventsAsync(List<PaymentNotification> notifications, CancellationToken ct)
    {
        var upTo = notifications.Where(n => n.Type == PaymentNotification.Refunded)
            .GroupBy(n => n.PaymentId).ToDictionary(g => g.Key, g => g.Max(n => n.Version));
        var result = notifications.Where(n => !upTo.ContainsKey(n.PaymentId)).ToList();
        if (upTo.Count == 0) return result;
        Payment? state = null;
        foreach (var e in await store.ReadStreamsAsync(upTo.Keys, ct))
        {
            if (e.Version == 1) state = null;
            state = Payment.Evolve(state, e.Data);
            if (e.Version <= upTo[e.StreamId] && state is not null && PaymentNotification.Of(e.StreamId, e.Version, e.Data, state) is { } n)
                result.Add(n with { CorrelationId = e.Metadata.CorrelationId });
        }
        return result;
    }

    private async Task<Dictionary<string, List<Endpoint>>> EndpointsAsync(string[] merchants, CancellationToken ct)
    {
        await using var cmd = db.CreateCommand(
            "select id, merchant_id, event_types, created_at from webhook_endpoints where merchant_id = any($1) and deleted_at is null");
        cmd.Parameters.Add(new NpgsqlParameter<string[]> { TypedValue = merchants });
        var endpoints = new Dictionary<string, List<Endpoint>>();
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct))
        {
            var e = new Endpoint(reader.GetString(0), reader.GetString(1), reader.GetFieldValue<string[]>(2), reader.GetDateTime(3));
            if (!endpoints.TryGetValue(e.MerchantId, out var list)) endpoints[e.MerchantId] = list = [];
            list.Add(e);
        }
        return endpoints;
    }
}
