using System.Text.Json;
using Ledger.Domain.Payments;
using Ledger.EventStore;
using static Ledger.Domain.Payments.PaymentEvent;
using static Ledger.Projections.ReadModelTables;

namespace Ledger.Projections.Payments;

/// <summary>payment_views (one row per payment, as it is now) and refund_views (one row per refund).</summary>
public sealed class PaymentViewProjection : PaymentProjection
{
    public override string Name => "payment_views";

    public override void Apply(PaymentEventAt e, Payment p, RowChanges rows)
    {
        rows.Put(PaymentViews,
            p.Id, p.MerchantId, p.OrderId, p.Amount, p.Currency, p.Status.Name(), p.AmountRefunded, p.FailureCode, p.FailureMessage,
            p.Card.Brand, p.Card.Last4, p.Card.ExpMonth, p.Card.ExpYear, p.Card.Fingerprint, p.Description,
            JsonSerializer.Serialize(p.Metadata, EventJson.Default.IReadOnlyDictionaryStringString), p.GatewayReference, p.ReceiptNumber,
            Utc(p.CreatedAt), Utc(p.UpdatedAt), p.Version);
        if (e.Event is PaymentRefunded r)
            rows.Insert(RefundViews, r.RefundId, p.Id, r.MerchantId, r.Amount, r.Reason, Utc(r.At), e.Version);
    }
}
