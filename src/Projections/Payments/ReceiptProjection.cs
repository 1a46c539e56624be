using Ledger.Domain.Payments;
using Ledger.EventStore;
using Npgsql;
using static Ledger.Domain.Payments.PaymentEvent;
using static Ledger.Projections.Payments.PaymentViewProjection;

namespace Ledger.Projections.Payments;

/// <summary>receipts and receipt_lines: a draft at request, issued at charge, a line per refund.</summary>
public sealed class ReceiptProjection : IInlineProjection<PaymentEvent>
{
    public string Name => "receipts";

    public void Project(IReadOnlyList<PendingEvent<PaymentEvent>> events, ICollection<NpgsqlBatchCommand> commands)
    {
        foreach (var e in events)
        {
            switch (e.Data)
            {
                case PaymentRequested r:
                    commands.Add(Command("""
                        insert into receipts (payment_id, merchant_id, order_id, currency, card_brand, card_last4, version)
                        values ($1, $2, $3, $4, $5, $6, $7)
                        on conflict (payment_id) do nothing
                        """, r.PaymentId, r.MerchantId, r.OrderId, r.Currency, r.Card.Brand, r.Card.Last4, e.Version));
                    break;
                case PaymentCharged c:
                    commands.Add(Command("""
                        update receipts set receipt_number = $2, issued_at = $3, total_charged = $4, version = $5
                        where payment_id = $1 and version = $5 - 1
                        """, c.PaymentId, c.ReceiptNumber, c.At.UtcDateTime, c.Amount, e.Version));
                    commands.Add(Line(c.PaymentId, e.Version, "charge", c.Amount, c.At, c.GatewayReference));
                    break;
                case PaymentFailed f:
                    commands.Add(Command(
                        "update receipts set version = $2 where payment_id = $1 and version = $2 - 1", f.PaymentId, e.Version));
                    break;
                case PaymentRefunded r:
                    commands.Add(Command("""
                        update receipts set total_refunded = total_refunded + $2, version = $3
                        where payment_id = $1 and version = $3 - 1
                        """, r.PaymentId, r.Amount, e.Version));
                    commands.Add(Line(r.PaymentId, e.Version, "refund", r.Amount, r.At, r.RefundId));
                    break;
            }
        }
    }

    private static NpgsqlBatchCommand Line(string paymentId, long version, string kind, long amount, DateTimeOffset at, string reference) =>
        Command("""
            insert into receipt_lines (payment_id, line_no, kind, amount, at, reference) values ($1, $2, $3, $4, $5, $6)
            on conflict (payment_id, line_no) do nothing
            """, paymentId, version, kind, amount, at.UtcDateTime, reference);
}
