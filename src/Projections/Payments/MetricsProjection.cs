using Ledger.Domain.Payments;
using Ledger.EventStore;
using Npgsql;
using static Ledger.Domain.Payments.PaymentEvent;
using static Ledger.Projections.Payments.PaymentViewProjection;

namespace Ledger.Projections.Payments;

/// <summary>metrics_daily and metrics_failures: counters per merchant, currency, day and stripe.</summary>
public sealed class MetricsProjection : IInlineProjection<PaymentEvent>
{
    public string Name => "metrics";

    // One statement per event: advance the payment's position by exactly one, and only if that happened,
    // add to the day's stripe (and to the failure code's count). Replaying an event moves nothing.
    private const string Count = """
        with applied as (
            insert into metrics_positions (payment_id, version) values ($1, $2)
            on conflict (payment_id) do update set version = excluded.version
                where metrics_positions.version = excluded.version - 1
            returning 1
        ), daily as (
            insert into metrics_daily (merchant_id, currency, day, stripe,
                payments_created, payments_succeeded, payments_failed, refunds_count, gross_charged, refunded)
            select $3, $4, $5, $6, $7, $8, $9, $10, $11, $12 from applied
            on conflict (merchant_id, currency, day, stripe) do update set
                payments_created = metrics_daily.payments_created + excluded.payments_created,
                payments_succeeded = metrics_daily.payments_succeeded + excluded.payments_succeeded,
                payments_failed = metrics_daily.payments_failed + excluded.payments_failed,
                refunds_count = metrics_daily.refunds_count + excluded.refunds_count,
                gross_charged = metrics_daily.gross_charged + excluded.gross_charged,
                refunded = metrics_daily.refunded + excluded.refunded
            returning 1
        )
        insert into metrics_failures (merchant_id, currency, day, code, stripe, count)
        select $3, $4, $5, $13, $6, 1 from applied where $13::text is not null
        on conflict (merchant_id, currency, day, code, stripe) do update set count = metrics_failures.count + 1
        """;

    public void Project(IReadOnlyList<PendingEvent<PaymentEvent>> events, ICollection<NpgsqlBatchCommand> commands)
    {
        foreach (var e in events)
        {
            var (merchant, currency, created, succeeded, failed, refunds, gross, refunded, code) = e.Data switch
            {
                PaymentRequested r => (r.MerchantId, r.Currency, 1, 0, 0, 0, 0L, 0L, (string?)null),
                PaymentCharged c => (c.MerchantId, c.Currency, 0, 1, 0, 0, c.Amount, 0L, null),
                PaymentFailed f => (f.MerchantId, f.Currency, 0, 0, 1, 0, 0L, 0L, f.FailureCode),
                PaymentRefunded r => (r.MerchantId, r.Currency, 0, 0, 0, 1, 0L, r.Amount, null),
                _ => throw new ArgumentOutOfRangeException(nameof(events), e.Type, "Not a payment event."),
            };
            commands.Add(Command(Count,
                e.StreamId, e.Version, merchant, currency, DateOnly.FromDateTime(e.Data.At.UtcDateTime), Stripes.Of(e.StreamId),
                (long)created, (long)succeeded, (long)failed, (long)refunds, gross, refunded,
                new NpgsqlParameter { Value = (object?)code ?? DBNull.Value, NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Text }));
        }
    }
}
