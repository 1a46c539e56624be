using Ledger.Domain.Payments;
using Ledger.EventStore;
using Npgsql;
using static Ledger.Domain.Payments.PaymentEvent;
using static Ledger.Projections.Payments.PaymentViewProjection;

namespace Ledger.Projections.Payments;

/// <summary>
/// The double-entry books. A charge: debit gateway_clearing, credit merchant:{id}:available.
/// A refund: the reverse. Every posting is balanced, so debits equal credits per currency at every commit.
/// </summary>
public sealed class LedgerProjection : IInlineProjection<PaymentEvent>
{
    public string Name => "ledger";

    public const string GatewayClearing = "gateway_clearing";
    public static string MerchantAvailable(string merchantId) => $"merchant:{merchantId}:available";

    // The journal insert is idempotent by (payment, version, account); the balances only move by what it
    // actually inserted. Rows are upserted in account order so two postings never lock stripes crosswise.
    private const string Post = """
        with posted as (
            insert into ledger_entries (payment_id, version, account, currency, debit, credit, at)
            values ($1, $2, $3, $5, $6, 0, $7), ($1, $2, $4, $5, 0, $6, $7)
            on conflict (payment_id, version, account) do nothing
            returning account, currency, debit, credit
        )
        insert into ledger_balances (account, currency, stripe, debits, credits)
        select account, currency, $8, debit, credit from posted order by account
        on conflict (account, currency, stripe) do update set
            debits = ledger_balances.debits + excluded.debits,
            credits = ledger_balances.credits + excluded.credits
        """;

    public void Project(IReadOnlyList<PendingEvent<PaymentEvent>> events, ICollection<NpgsqlBatchCommand> commands)
    {
        foreach (var e in events)
        {
            var posting = e.Data switch
            {
                PaymentCharged c => (Debit: GatewayClearing, Credit: MerchantAvailable(c.MerchantId), c.Currency, c.Amount),
                PaymentRefunded r => (Debit: MerchantAvailable(r.MerchantId), Credit: GatewayClearing, r.Currency, r.Amount),
                _ => default,
            };
            if (posting.Debit is null) continue;
            commands.Add(Command(Post, e.StreamId, e.Version, posting.Debit, posting.Credit, posting.Currency,
                posting.Amount, e.Data.At.UtcDateTime, Stripes.Of(e.StreamId)));
        }
    }
}
