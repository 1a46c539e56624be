using System.Text.Json;
using Ledger.Domain.Payments;
using Ledger.EventStore;
using Npgsql;
using NpgsqlTypes;
using static Ledger.Domain.Payments.PaymentEvent;

namespace Ledger.Projections.Payments;

/// <summary>payment_views (one row per payment) and refund_views (one per refund), written in the append's transaction.</summary>
public sealed class PaymentViewProjection : IInlineProjection<PaymentEvent>
{
    public string Name => "payment_views";

    public void Project(IReadOnlyList<PendingEvent<PaymentEvent>> events, ICollection<NpgsqlBatchCommand> commands)
    {
        foreach (var e in events)
            commands.Add(e.Data switch
            {
                PaymentRequested r => Command("""
                    insert into payment_views (id, merchant_id, order_id, amount, currency, status, card_brand, card_last4,
                        card_exp_month, card_exp_year, card_fingerprint, description, metadata, created_at, updated_at, version)
                    values ($1, $2, $3, $4, $5, 'pending', $6, $7, $8, $9, $10, $11, $12, $13, $13, $14)
                    on conflict (id) do nothing
                    """,
                    r.PaymentId, r.MerchantId, r.OrderId, r.Amount, r.Currency, r.Card.Brand, r.Card.Last4, r.Card.ExpMonth,
                    r.Card.ExpYear, r.Card.Fingerprint, (object?)r.Description ?? DBNull.Value,
                    Jsonb(JsonSerializer.Serialize(r.Metadata, EventJson.Default.IReadOnlyDictionaryStringString)), r.At.UtcDateTime, e.Version),
                PaymentCharged c => Command("""
                    update payment_views set status = 'succeeded', gateway_reference = $2, receipt_number = $3, updated_at = $4, version = $5
                    where id = $1 and version = $5 - 1
                    """, c.PaymentId, c.GatewayReference, c.ReceiptNumber, c.At.UtcDateTime, e.Version),
                PaymentFailed f => Command("""
                    update payment_views set status = 'failed', failure_code = $2, failure_message = $3, updated_at = $4, version = $5
                    where id = $1 and version = $5 - 1
                    """, f.PaymentId, f.FailureCode, f.FailureMessage, f.At.UtcDateTime, e.Version),
                PaymentRefunded r => Command("""
                    update payment_views set
                        amount_refunded = amount_refunded + $2,
                        status = case when amount_refunded + $2 >= amount then 'refunded' else 'partially_refunded' end,
                        updated_at = $3, version = $4
                    where id = $1 and version = $4 - 1
                    """, r.PaymentId, r.Amount, r.At.UtcDateTime, e.Version),
                _ => throw new ArgumentOutOfRangeException(nameof(events), e.Type, "Not a payment event."),
            });
        foreach (var e in events)
            if (e.Data is PaymentRefunded r)
                commands.Add(Command("""
                    insert into refund_views (id, payment_id, merchant_id, amount, reason, created_at, version)
                    values ($1, $2, $3, $4, $5, $6, $7)
                    on conflict (id) do nothing
                    """, r.RefundId, r.PaymentId, r.MerchantId, r.Amount, r.Reason, r.At.UtcDateTime, e.Version));
    }

    internal static NpgsqlBatchCommand Command(string sql, params object[] values)
    {
        var command = new NpgsqlBatchCommand(sql);
        foreach (var v in values)
            command.Parameters.Add(v as NpgsqlParameter ?? new NpgsqlParameter { Value = v });
        return command;
    }

    internal static NpgsqlParameter Jsonb(string json) => new() { Value = json, NpgsqlDbType = NpgsqlDbType.Jsonb };
}
