using Ledger.Domain.Payments;
using Ledger.EventStore;
using Ledger.Projections.Payments;
using Ledger.Testing;
using Npgsql;
using Shouldly;
using Xunit;
using static Ledger.Domain.Payments.PaymentEvent;

namespace Ledger.Projections.Tests;

/// <summary>Events in, rows out. And the same events applied again change nothing.</summary>
public sealed class ProjectionSpecs : IAsyncLifetime
{
    private static readonly string[] Tables =
        ["payment_views", "refund_views", "receipts", "receipt_lines", "metrics_daily", "metrics_failures", "metrics_positions", "ledger_entries", "ledger_balances"];
    private static readonly DateTimeOffset T0 = new(2026, 11, 22, 10, 0, 0, TimeSpan.Zero);
    private static readonly CardSnapshot Card = new("visa", "4242", 12, 2030, "fp_1");
    private static readonly Dictionary<string, string> None = [];

    private readonly TestDatabase _db = new();
    private NpgsqlDataSource _ds = null!;
    private EventLog<PaymentEvent> _store = null!;

    public async ValueTask InitializeAsync()
    {
        await _db.InitializeAsync();
        _ds = _db.CreateDataSource();
        await new SchemaMigrator(_ds).MigrateAsync(ReadModel.Migrations);
        _store = await MartenEventLog.OpenAsync(_ds, PaymentEventCodec.Instance, ReadModel.InlineProjections());
    }

    public async ValueTask DisposeAsync() => await _ds.DisposeAsync();

    private static PaymentEvent[] ChargedThenRefundedTwice(string id) =>
    [
        new PaymentRequested(id, "acme", "o-1", 1000, "EUR", Card, "d", new Dictionary<string, string> { ["k"] = "v" }, T0),
        new PaymentCharged(id, "acme", 1000, "EUR", "ch_1", "ACME-00000042", T0.AddSeconds(1)),
        new PaymentRefunded(id, "acme", "re_1", 300, "EUR", "duplicate", None, T0.AddDays(1)),
        new PaymentRefunded(id, "acme", "re_2", 700, "EUR", "fraudulent", None, T0.AddDays(1).AddHours(1)),
    ];

    [Fact]
    public async Task A_charged_and_fully_refunded_payment_lands_in_every_read_table()
    {
        await _store.AppendAsync("pay_a", 0, ChargedThenRefundedTwice("pay_a"), new EventMetadata());

        (await Row("select status || ' ' || amount_refunded || ' ' || receipt_number || ' v' || version from payment_views where id = 'pay_a'"))
            .ShouldBe("refunded 1000 ACME-00000042 v4");
        (await Row("select string_agg(id || ':' || amount || ':' || reason, ',' order by version) from refund_views where payment_id = 'pay_a'"))
            .ShouldBe("re_1:300:duplicate,re_2:700:fraudulent");
        (await Row("select total_charged || '/' || total_refunded || ' ' || receipt_number from receipts where payment_id = 'pay_a'"))
            .ShouldBe("1000/1000 ACME-00000042");
        (await Row("select string_agg(kind || ':' || amount, ',' order by line_no) from receipt_lines where payment_id = 'pay_a'"))
            .ShouldBe("charge:1000,refund:300,refund:700");
        (await Row("""
            select string_agg(day || ' ' || c || '/' || s || '/' || r || ' ' || g || '-' || rf, ', ' order by day) from (
              select day, sum(payments_created) c, sum(payments_succeeded) s, sum(refunds_count) r, sum(gross_charged) g, sum(refunded) rf
              from metrics_daily where merchant_id = 'acme' group by day) d
            """)).ShouldBe("2026-11-22 1/1/0 1000-0, 2026-11-23 0/0/2 0-1000");
        (await Row("select string_agg(account || ' ' || (sum_d - sum_c), ', ' order by account) from (select account, sum(debit) sum_d, sum(credit) sum_c from ledger_entries where payment_id = 'pay_a' group by account) a"))
            .ShouldBe("gateway_clearing 0, merchant:acme:available 0");
    }

    [Fact]
    public async Task A_declined_payment_counts_its_failure_and_posts_nothing_to_the_books()
    {
        await _store.AppendAsync("pay_d", 0,
        [
            new PaymentRequested("pay_d", "globex", "o-2", 500, "USD", Card, null, None, T0),
            new PaymentFailed("pay_d", "globex", 500, "USD", "card_declined", "declined", T0.AddSeconds(1)),
        ], new EventMetadata());

        (await Row("select status || ' ' || failure_code from payment_views where id = 'pay_d'")).ShouldBe("failed card_declined");
        (await Row("select (issued_at is null)::text from receipts where payment_id = 'pay_d'")).ShouldBe("true");
        (await Row("select sum(count)::text from metrics_failures where merchant_id = 'globex' and code = 'card_declined'")).ShouldBe("1");
        (await Row("select count(*)::text from ledger_entries where payment_id = 'pay_d'")).ShouldBe("0");
    }

    [Fact]
    public async Task Applying_the_same_events_again_changes_no_row()
    {
        var events = ChargedThenRefundedTwice("pay_twice");
        await _store.AppendAsync("pay_twice", 0, events, new EventMetadata());
        var before = await Snapshot();

        // Replay every event through every projection, as a rebuild that overlaps the live log would.
        var pending = events.Select((e, i) => new PendingEvent<PaymentEvent>("pay_twice", i + 1, PaymentEventCodec.Instance.TypeNameOf(e), e, e.At, new EventMetadata())).ToList();
        for (var upTo = 1; upTo <= pending.Count; upTo++)
        {
            await using var batch = _ds.CreateBatch();
            foreach (var projection in ReadModel.InlineProjections()) projection.Project(pending[..upTo], batch.BatchCommands);
            await batch.ExecuteNonQueryAsync();
        }

        (await Snapshot()).ShouldBe(before);
    }

    private async Task<string> Row(string sql) => await _db.ScalarAsync<string>(sql);

    private async Task<Dictionary<string, string>> Snapshot()
    {
        var snapshot = new Dictionary<string, string>();
        foreach (var table in Tables)
            snapshot[table] = await _db.ScalarAsync<string>(
                $"select coalesce(string_agg(row_to_json(t)::text, E'\\n' order by row_to_json(t)::text), '') from {table} t");
        return snapshot;
    }
}
