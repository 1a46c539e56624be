using System.Text.Json;
using Ledger.Domain.Payments;
using Ledger.EventStore;
using Ledger.Projections.Payments;
using static Ledger.Domain.Payments.PaymentEvent;

namespace Ledger.Projections.Rebuild;

/// <summary>Where built rows go: a COPY into fresh tables, or an auditor's comparison.</summary>
public interface IRowSink
{
    void Row(Table table, object?[] values);
}

/// <summary>
/// Folds the log, stream by stream, into the rows every read table should hold: the same rules as the inline
/// projections, computed in memory. Rows of one payment are emitted when its stream ends; counters and balances,
/// which sum over payments, when the log ends.
/// </summary>
public sealed class ReadModelBuilder(IRowSink sink, ISet<string>? projections = null)
{
    private readonly Dictionary<(string, string, DateOnly, short), long[]> _daily = [];
    private readonly Dictionary<(string, string, DateOnly, string, short), long> _failures = [];
    private readonly Dictionary<(string, string, short), long[]> _balances = [];
    private readonly List<StoredEvent<PaymentEvent>> _stream = [];

    private bool Wants(Table table) => projections is null || projections.Contains(table.Projection);

    /// <summary>Feed events grouped by stream, each stream in version order.</summary>
    public void Add(StoredEvent<PaymentEvent> e)
    {
        if (_stream.Count > 0 && _stream[0].StreamId != e.StreamId) FlushStream();
        _stream.Add(e);
    }

    public void Complete()
    {
        FlushStream();
        if (Wants(ReadModelTables.MetricsDaily))
        {
            foreach (var ((merchant, currency, day, stripe), c) in _daily)
                sink.Row(ReadModelTables.MetricsDaily, [merchant, currency, day, stripe, c[0], c[1], c[2], c[3], c[4], c[5]]);
            foreach (var ((merchant, currency, day, code, stripe), count) in _failures)
                sink.Row(ReadModelTables.MetricsFailures, [merchant, currency, day, code, stripe, count]);
        }
        if (Wants(ReadModelTables.LedgerBalances))
            foreach (var ((account, currency, stripe), b) in _balances)
                sink.Row(ReadModelTables.LedgerBalances, [account, currency, stripe, b[0], b[1]]);
    }

    private void FlushStream()
    {
        if (_stream.Count == 0) return;
        var id = _stream[0].StreamId;
        var stripe = Stripes.Of(id);
        var payment = Payment.Fold(_stream.Select(e => e.Data));
        if (payment is not null)
        {
            if (Wants(ReadModelTables.PaymentViews)) sink.Row(ReadModelTables.PaymentViews, View(payment));
            if (Wants(ReadModelTables.MetricsPositions)) sink.Row(ReadModelTables.MetricsPositions, [id, payment.Version]);
            EmitReceipt(payment);
        }
        foreach (var e in _stream)
        {
            switch (e.Data)
            {
                case PaymentRequested r:
                    Count(r.MerchantId, r.Currency, r.At, stripe, created: 1);
                    break;
                case PaymentCharged c:
                    Count(c.MerchantId, c.Currency, c.At, stripe, succeeded: 1, gross: c.Amount);
                    Post(id, e.Version, LedgerProjection.GatewayClearing, LedgerProjection.MerchantAvailable(c.MerchantId), c.Currency, c.Amount, c.At, stripe);
                    break;
                case PaymentFailed f:
                    Count(f.MerchantId, f.Currency, f.At, stripe, failed: 1);
                    if (Wants(ReadModelTables.MetricsFailures))
                    {
                        var key = (f.MerchantId, f.Currency, Day(f.At), f.FailureCode, stripe);
                        _failures[key] = _failures.GetValueOrDefault(key) + 1;
                    }
                    break;
                case PaymentRefunded r:
                    Count(r.MerchantId, r.Currency, r.At, stripe, refunds: 1, refunded: r.Amount);
                    Post(id, e.Version, LedgerProjection.MerchantAvailable(r.MerchantId), LedgerProjection.GatewayClearing, r.Currency, r.Amount, r.At, stripe);
                    if (Wants(ReadModelTables.RefundViews))
                        sink.Row(ReadModelTables.RefundViews, [r.RefundId, id, r.MerchantId, r.Amount, r.Reason, r.At.UtcDateTime, e.Version]);
                    break;
            }
        }
        _stream.Clear();
    }

    private void EmitReceipt(Payment p)
    {
        if (!Wants(ReadModelTables.Receipts)) return;
        DateTime? issuedAt = null;
        long charged = 0, refunded = 0;
        foreach (var e in _stream)
        {
            if (e.Data is PaymentCharged c)
            {
                (issuedAt, charged) = (c.At.UtcDateTime, c.Amount);
                sink.Row(ReadModelTables.ReceiptLines, [p.Id, e.Version, "charge", c.Amount, c.At.UtcDateTime, c.GatewayReference]);
            }
            else if (e.Data is PaymentRefunded r)
            {
                refunded += r.Amount;
                sink.Row(ReadModelTables.ReceiptLines, [p.Id, e.Version, "refund", r.Amount, r.At.UtcDateTime, r.RefundId]);
            }
        }
        sink.Row(ReadModelTables.Receipts,
            [p.Id, p.MerchantId, p.ReceiptNumber, p.OrderId, p.Currency, p.Card.Brand, p.Card.Last4, issuedAt, charged, refunded, p.Version]);
    }

    private static object?[] View(Payment p) =>
    [
        p.Id, p.MerchantId, p.OrderId, p.Amount, p.Currency, p.Status.Name(), p.AmountRefunded, p.FailureCode, p.FailureMessage,
        p.Card.Brand, p.Card.Last4, p.Card.ExpMonth, p.Card.ExpYear, p.Card.Fingerprint, p.Description,
        JsonSerializer.Serialize(p.Metadata, EventJson.Default.IReadOnlyDictionaryStringString), p.GatewayReference, p.ReceiptNumber,
        p.CreatedAt.UtcDateTime, p.UpdatedAt.UtcDateTime, p.Version,
    ];

    private void Count(string merchant, string currency, DateTimeOffset at, short stripe,
        long created = 0, long succeeded = 0, long failed = 0, long refunds = 0, long gross = 0, long refunded = 0)
    {
        if (!Wants(ReadModelTables.MetricsDaily)) return;
        var key = (merchant, currency, Day(at), stripe);
        if (!_daily.TryGetValue(key, out var c)) _daily[key] = c = new long[6];
        c[0] += created; c[1] += succeeded; c[2] += failed; c[3] += refunds; c[4] += gross; c[5] += refunded;
    }

    private void Post(string paymentId, long version, string debit, string credit, string currency, long amount, DateTimeOffset at, short stripe)
    {
        if (!Wants(ReadModelTables.LedgerEntries)) return;
        sink.Row(ReadModelTables.LedgerEntries, [paymentId, version, debit, currency, amount, 0L, at.UtcDateTime]);
        sink.Row(ReadModelTables.LedgerEntries, [paymentId, version, credit, currency, 0L, amount, at.UtcDateTime]);
        foreach (var (account, d, c) in new[] { (debit, amount, 0L), (credit, 0L, amount) })
        {
            var key = (account, currency, stripe);
            if (!_balances.TryGetValue(key, out var b)) _balances[key] = b = new long[2];
            b[0] += d; b[1] += c;
        }
    }

    private static DateOnly Day(DateTimeOffset at) => DateOnly.FromDateTime(at.UtcDateTime);
}
