using Ledger.Domain.Payments;
using static Ledger.Domain.Payments.PaymentEvent;
using static Ledger.Projections.ReadModelTables;

namespace Ledger.Projections.Payments;

/// <summary>
/// metrics_daily and metrics_failures: counters per merchant, currency, day and stripe. metrics_positions holds the
/// last version counted per payment: the counters move only when it advances, so an event is counted once.
/// </summary>
public sealed class MetricsProjection : PaymentProjection
{
    public override string Name => "metrics";

    public override void Apply(PaymentEventAt e, Payment p, RowChanges rows)
    {
        var (created, succeeded, failed, refunds, gross, refunded) = e.Event switch
        {
            PaymentRequested => (1L, 0L, 0L, 0L, 0L, 0L),
            PaymentCharged c => (0, 1, 0, 0, c.Amount, 0),
            PaymentFailed => (0, 0, 1, 0, 0, 0),
            PaymentRefunded r => (0, 0, 0, 1, 0, r.Amount),
            _ => throw new ArgumentOutOfRangeException(nameof(e), e.Event.GetType().Name, "Not a payment event."),
        };
        var (day, stripe) = (Day(e.Event.At), Stripes.Of(e.PaymentId));
        rows.Put(MetricsPositions, e.PaymentId, e.Version);
        rows.Add(MetricsDaily, p.MerchantId, p.Currency, day, stripe, created, succeeded, failed, refunds, gross, refunded);
        if (e.Event is PaymentFailed f)
            rows.Add(MetricsFailures, p.MerchantId, p.Currency, day, f.FailureCode, stripe, 1L);
    }
}
