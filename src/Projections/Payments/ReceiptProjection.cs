using Ledger.Domain.Payments;
using static Ledger.Domain.Payments.PaymentEvent;
using static Ledger.Projections.ReadModelTables;

namespace Ledger.Projections.Payments;

/// <summary>receipts and receipt_lines: a draft at request, issued at charge, a line for the charge and for each refund.</summary>
public sealed class ReceiptProjection : PaymentProjection
{
    public override string Name => "receipts";

    public override void Apply(PaymentEventAt e, Payment p, RowChanges rows)
    {
        rows.Put(Receipts,
            p.Id, p.MerchantId, p.ReceiptNumber, p.OrderId, p.Currency, p.Card.Brand, p.Card.Last4,
            p.ChargedAt is { } charged ? Utc(charged) : null, p.IsCharged ? p.Amount : 0L, p.AmountRefunded, p.Version);
        switch (e.Event)
        {
            case PaymentCharged c:
                rows.Insert(ReceiptLines, p.Id, e.Version, "charge", c.Amount, Utc(c.At), c.GatewayReference);
                break;
            case PaymentRefunded r:
                rows.Insert(ReceiptLines, p.Id, e.Version, "refund", r.Amount, Utc(r.At), r.RefundId);
                break;
        }
    }
}
