using System.Globalization;
using Ledger.Domain.Payments;
using Ledger.EventStore;
using Ledger.EventStore.Audit;
using Npgsql;
using NpgsqlTypes;

namespace Ledger.Projections.Rebuild;

public sealed record AuditReport(long Events, long Streams, IReadOnlyList<string> Discrepancies, int Checkpoints = 0)
{
    public bool Clean => Discrepancies.Count == 0;
}

/// <summary>
/// audit verify: in one repeatable-read snapshot, recomputes every stream's hash chain, folds every stream into the
/// rows each read table should hold, compares them with the tables, and checks that debits equal credits. Given
/// checkpoints signed outside the database, it also checks the log against them (<see cref="CheckpointVerifier"/>).
/// </summary>
public sealed class ReadModelAudit(NpgsqlDataSource db, EventLog<PaymentEvent> store)
{
    private const int MaxPerTable = 20;

    public async Task<AuditReport> RunAsync(IProgress<(long Done, long Total)>? progress, CancellationToken ct, CheckpointVerifier? checkpoints = null)
    {
        var problems = new List<string>();
        await using var connection = await db.OpenConnectionAsync(ct);
        await using var tx = await connection.BeginTransactionAsync(System.Data.IsolationLevel.RepeatableRead, ct);

        var recorded = new Dictionary<string, long>();
        await using (var cmd = new NpgsqlCommand("select stream_id, version from ledger.streams", connection, tx))
        await using (var reader = await cmd.ExecuteReaderAsync(ct))
            while (await reader.ReadAsync(ct)) recorded[reader.GetString(0)] = reader.GetInt64(1);
        long total;
        await using (var count = new NpgsqlCommand("select count(*) from ledger.events", connection, tx))
            total = (long)(await count.ExecuteScalarAsync(ct))!;

        // The log is Marten's events that have a chain row. One without (written while the chain trigger was off)
        // would be invisible to every reader and to this audit: name each.
        await using (var cmd = new NpgsqlCommand($"""
            select e.stream_id, e.version from {MartenEventLog.Schema}.mt_events e
            where e.stream_id <> 'mt_tombstone'
              and not exists (select 1 from {MartenEventLog.Schema}.event_chain c where c.seq_id = e.seq_id)
            order by e.stream_id, e.version limit {MaxPerTable}
            """, connection, tx))
        await using (var reader = await cmd.ExecuteReaderAsync(ct))
            while (await reader.ReadAsync(ct))
                problems.Add($"stream {reader.GetString(0)} version {reader.GetInt64(1)}: the event has no chain row (written around the hash chain?)");

        var expected = new ExpectedRows();
        var builder = new ReadModelBuilder(expected);
        var stream = new List<StoredEvent<PaymentEvent>>();
        var seen = new HashSet<string>();
        long events = 0;
        void EndStream()
        {
            if (stream.Count == 0) return;
            seen.Add(stream[0].StreamId);
            problems.AddRange(HashChain.Check(stream, recorded.GetValueOrDefault(stream[0].StreamId)));
            stream.Clear();
        }
        await foreach (var e in store.StreamAllBelowAsync(null, connection, ct))
        {
            if (stream.Count > 0 && stream[0].StreamId != e.StreamId) EndStream();
            stream.Add(e);
            builder.Add(e);
            checkpoints?.Observe(e);
            if (++events % 10_000 == 0) progress?.Report((events, total));
        }
        EndStream();
        builder.Complete();
        progress?.Report((events, total));
        foreach (var (id, version) in recorded.Where(r => !seen.Contains(r.Key)))
            problems.Add($"stream {id}: the stream is at version {version} but the log holds no events; events were removed");

        if (checkpoints is not null) problems.AddRange(await checkpoints.CheckAsync(connection, tx, ct));
        foreach (var table in ReadModelTables.All)
            problems.AddRange(await CompareAsync(connection, tx, table, expected.For(table), ct));

        await using (var cmd = new NpgsqlCommand("""
            select currency, sum(debit)::bigint, sum(credit)::bigint from ledger_entries group by currency
            having sum(debit) <> sum(credit) order by currency
            """, connection, tx))
        await using (var reader = await cmd.ExecuteReaderAsync(ct))
            while (await reader.ReadAsync(ct))
                problems.Add($"ledger {reader.GetString(0)}: debits {reader.GetInt64(1)} <> credits {reader.GetInt64(2)}");
        await tx.CommitAsync(ct);
        return new AuditReport(events, seen.Count, problems, checkpoints?.Checkpoints ?? 0);
    }

    private static async Task<List<string>> CompareAsync(NpgsqlConnection connection, NpgsqlTransaction tx, Table table,
        Dictionary<string, string> expected, CancellationToken ct)
    {
        var actual = new Dictionary<string, string>();
        var select = string.Join(", ", table.Columns.Select(c => c.Type == NpgsqlDbType.Jsonb ? $"{c.Name}::text" : c.Name));
        await using (var cmd = new NpgsqlCommand($"select {select} from {table.Name}", connection, tx))
        await using (var reader = await cmd.ExecuteReaderAsync(ct))
            while (await reader.ReadAsync(ct))
            {
                var values = new object?[table.Columns.Length];
                for (var i = 0; i < values.Length; i++)
                    values[i] = reader.IsDBNull(i) ? null : table.Columns[i].Type switch
                    {
                        NpgsqlDbType.Date => reader.GetFieldValue<DateOnly>(i),
                        NpgsqlDbType.TimestampTz => reader.GetFieldValue<DateTime>(i),
                        _ => reader.GetValue(i),
                    };
                actual[ExpectedRows.Key(table, values)] = ExpectedRows.Text(table, values);
            }

        var problems = new List<string>();
        foreach (var (key, row) in expected)
            if (!actual.TryGetValue(key, out var found)) problems.Add($"{table.Name} {key}: missing; the log implies ({row})");
            else if (found != row) problems.Add($"{table.Name} {key}: is ({found}) but the log implies ({row})");
        foreach (var key in actual.Keys.Where(k => !expected.ContainsKey(k)))
            problems.Add($"{table.Name} {key}: present but no event implies it");
        return problems.Count <= MaxPerTable ? problems : [.. problems.Take(MaxPerTable), $"{table.Name}: and {problems.Count - MaxPerTable} more"];
    }

    /// <summary>Rows as comparable text: values formatted one way whichever side they came from.</summary>
    private sealed class ExpectedRows : IRowSink
    {
        private readonly Dictionary<string, Dictionary<string, string>> _tables = [];

        public void Row(Table table, object?[] values) => For(table)[Key(table, values)] = Text(table, values);

        public Dictionary<string, string> For(Table table) =>
            _tables.TryGetValue(table.Name, out var rows) ? rows : _tables[table.Name] = [];

        public static string Key(Table table, object?[] values) =>
            string.Join(" ", table.Key.Select(k => $"{k}={Format(values[Array.FindIndex(table.Columns, c => c.Name == k)], NpgsqlDbType.Text)}"));

        public static string Text(Table table, object?[] values) =>
            string.Join(", ", table.Columns.Select((c, i) => $"{c.Name}={Format(values[i], c.Type)}"));

        private static string Format(object? value, NpgsqlDbType type) => value switch
        {
            null => "null",
            string json when type == NpgsqlDbType.Jsonb => HashChain.Json(json),
            DateTime t => t.ToUniversalTime().ToString("yyyy-MM-ddTHH:mm:ss.ffffffZ", CultureInfo.InvariantCulture),
            DateOnly d => d.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture),
            IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
            _ => value.ToString() ?? "",
        };
    }
}
