using Ledger.Domain.Payments;
using Ledger.EventStore;
using Ledger.Projections.Payments;
using Ledger.Projections.Rebuild;
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
        new PaymentCharged(id, "acme", 1000, "EUR", "ch_1", $"ACME-{id}", T0.AddSeconds(1)),
        new PaymentRefunded(id, "acme", $"re_1_{id}", 300, "EUR", "duplicate", None, T0.AddDays(1)),
        new PaymentRefunded(id, "acme", $"re_2_{id}", 700, "EUR", "fraudulent", None, T0.AddDays(1).AddHours(1)),
    ];

    [Fact]
    public async Task A_charged_and_fully_refunded_payment_lands_in_every_read_table()
    {
        await _store.AppendAsync("pay_a", 0, ChargedThenRefundedTwice("pay_a"), new EventMetadata());

        (await Row("select status || ' ' || amount_refunded || ' ' || receipt_number || ' v' || version from payment_views where id = 'pay_a'"))
            .ShouldBe("refunded 1000 ACME-pay_a v4");
        (await Row("select string_agg(id || ':' || amount || ':' || reason, ',' order by version) from refund_views where payment_id = 'pay_a'"))
            .ShouldBe("re_1_pay_a:300:duplicate,re_2_pay_a:700:fraudulent");
        (await Row("select total_charged || '/' || total_refunded || ' ' || receipt_number from receipts where payment_id = 'pay_a'"))
            .ShouldBe("1000/1000 ACME-pay_a");
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

    [Fact]
    public async Task Appending_one_event_at_a_time_on_the_state_it_was_decided_on_builds_the_same_rows_as_one_append()
    {
        await _store.AppendAsync("pay_together", 0, ChargedThenRefundedTwice("pay_together"), new EventMetadata());
        Payment? state = null;
        foreach (var e in ChargedThenRefundedTwice("pay_one_by_one"))
        {
            await _store.AppendAsync("pay_one_by_one", state?.Version ?? 0, [e], new EventMetadata(), streamState: state);
            state = Payment.Evolve(state, e);
        }

        var rows = await Snapshot();
        foreach (var table in new[] { "payment_views", "refund_views", "receipts", "receipt_lines", "metrics_positions", "ledger_entries" })
        {
            var lines = rows[table].Split('\n');
            var oneByOne = lines.Where(l => l.Contains("pay_one_by_one")).Select(l => l.Replace("pay_one_by_one", "pay_together")).ToList();
            oneByOne.ShouldNotBeEmpty(table);
            oneByOne.ShouldBe(lines.Where(l => l.Contains("pay_together")), table);
        }
    }

    [Fact]
    public async Task An_append_to_a_payment_without_the_state_it_was_decided_on_is_refused_and_writes_nothing()
    {
        var events = ChargedThenRefundedTwice("pay_stateless");
        await _store.AppendAsync("pay_stateless", 0, events[..2], new EventMetadata());
        var before = await Snapshot();

        (await Should.ThrowAsync<InvalidOperationException>(() => _store.AppendAsync("pay_stateless", 2, [events[2]], new EventMetadata())))
            .Message.ShouldContain("without the payment it was decided on");
        (await Should.ThrowAsync<InvalidOperationException>(() =>
            _store.AppendAsync("pay_stateless", 2, [events[2]], new EventMetadata(), streamState: Payment.Fold(events[..1]))))
            .Message.ShouldContain("at version 1");

        (await Snapshot()).ShouldBe(before);
        (await _store.ReadStreamAsync("pay_stateless")).Count.ShouldBe(2);
    }

    [Fact]
    public async Task The_rows_built_in_the_appends_transaction_are_the_rows_the_same_rules_build_in_memory()
    {
        async Task<Payment?> Append(string id, PaymentEvent[] events, Payment? state)
        {
            await _store.AppendAsync(id, state?.Version ?? 0, events, new EventMetadata(), streamState: state);
            return events.Aggregate(state, Payment.Evolve);
        }
        var partly = await Append("pay_m1", ChargedThenRefundedTwice("pay_m1")[..2], null);
        await Append("pay_m1", ChargedThenRefundedTwice("pay_m1")[2..3], partly);
        await Append("pay_m2", ChargedThenRefundedTwice("pay_m2"), null);
        await Append("pay_m3", [new PaymentRequested("pay_m3", "globex", "o-3", 250, "JPY", Card, null, None, T0.AddDays(2))], null);
        await Append("pay_m4",
        [
            new PaymentRequested("pay_m4", "globex", "o-4", 900, "USD", Card, null, None, T0),
            new PaymentFailed("pay_m4", "globex", 900, "USD", "insufficient_funds", "no", T0.AddSeconds(2)),
        ], null);

        var memory = new Rows();
        var builder = new ReadModelBuilder(memory);
        await foreach (var e in _store.StreamAllBelowAsync(null)) builder.Add(e);
        builder.Complete();

        foreach (var table in ReadModelTables.All)
        {
            var stored = await _db.ScalarAsync<string>(
                $"select coalesce(string_agg(r, E'\\n' order by r collate \"C\"), '') from (select concat_ws('|', {Texts(table)}) r from {table.Name}) t");
            var built = await memory.PrintedAsync(_ds, table);
            built.ShouldNotBeEmpty(table.Name);
            stored.ShouldBe(built, table.Name);
        }
    }

    private static string Texts(Table table) => string.Join(", ", table.Columns.Select(c => $"coalesce({c.Name}::text, 'null')"));

    /// <summary>Rows from the in-memory build, printed by PostgreSQL as the stored ones are (same types, same text).</summary>
    private sealed class Rows : IRowSink
    {
        private readonly Dictionary<string, List<object?[]>> _tables = [];

        public void Row(Table table, object?[] values) =>
            (_tables.TryGetValue(table.Name, out var rows) ? rows : _tables[table.Name] = []).Add(values);

        public async Task<string> PrintedAsync(NpgsqlDataSource ds, Table table)
        {
            var printed = new List<string>();
            foreach (var row in _tables.GetValueOrDefault(table.Name) ?? [])
            {
                await using var cmd = ds.CreateCommand($"select concat_ws('|', {Texts(table)}) from (values ({
                    string.Join(", ", table.Columns.Select((c, i) => $"${i + 1}"))})) as t ({table.ColumnList})");
                for (var i = 0; i < row.Length; i++)
                    cmd.Parameters.Add(new NpgsqlParameter { Value = row[i] ?? DBNull.Value, NpgsqlDbType = table.Columns[i].Type });
                printed.Add((string)(await cmd.ExecuteScalarAsync())!);
            }
            printed.Sort(string.CompareOrdinal);
            return string.Join("\n", printed);
        }
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
