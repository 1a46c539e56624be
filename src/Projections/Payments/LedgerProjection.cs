using Ledger.Domain.Payments;
using static Ledger.Domain.Payments.PaymentEvent;
using static Ledger.Projections.ReadModelTables;

namespace Ledger.Projections.Payments;

/// <summary>
/// The double-entry books. A charge: debit gateway_clearing, credit merchant:{id}:available.
/// A refund: the reverse. Every posting is balanced, so debits equal credits per currency at every commit.
/// The journal lines are keyed by (payment, version, account); the striped balances move only if they were new.
/// </summary>
public sealed class LedgerProjection : PaymentProjection
{
    public override string Name => "ledger";

    public const string GatewayClearing = "gateway_clearing";
    public static string MerchantAvailable(string merchantId) => $"merchant:{merchantId}:available";

    public override void Apply(PaymentEventAt e, Payment p, RowChanges rows)
    {
        var (debit, credit, amount) = e.Event switch
        {
            PaymentCharged c => (GatewayClearing, MerchantAvailable(c.MerchantId), c.Amount),
            PaymentRefunded r => (MerchantAvailable(r.MerchantId), GatewayClearing, r.Amount),
            _ => (null, null, 0L),
        };
        if (debit is null || credit is null) return;
        var (at, stripe) = (Utc(e.Event.At), Stripes.Of(e.PaymentId));
        rows.Insert(LedgerEntries, e.PaymentId, e.Version, debit, p.Currency, amount, 0L, at);
        rows.Insert(LedgerEntries, e.PaymentId, e.Version, credit, p.Currency, 0L, amount, at);
        rows.Add(LedgerBalances, debit, p.Currency, stripe, amount, 0L);
        rows.Add(LedgerBalances, credit, p.Currency, stripe, 0L, amount);
    }
}
