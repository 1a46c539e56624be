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
        var contentHashes = new List<byte[]>();
        var seen = new HashSet<string>();
        long events = 0;
        void EndStream()
        {
            if (stream.Count == 0) return;
            seen.Add(stream[0].StreamId);
            problems.AddRange(HashChain.Check(stream, contentHashes, recorded.GetValueOrDefault(stream[0].StreamId)));
            stream.Clear();
            contentHashes.Clear();
        }
        await foreach (var e in store.StreamAllBelowAsync(null, connection, ct))
        {
            if (stream.Count > 0 && stream[0].StreamId != e.StreamId) EndStream();
            // Each event is canonicalised and hashed once: the chain check and the checkpoints' digest share it.
            var contentHash = HashChain.ContentHash(e);
            stream.Add(e);
            contentHashes.Add(contentHash);
            builder.Add(e);
            checkpoints?.Observe(e, contentHash);
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

    /// <summary>
    /// The table as stored against the rows the log implies, value by value (typed, as the builder makes them). Only a
    /// row that differs is formatted, to name it.
    /// </summary>
    private static async Task<List<string>> CompareAsync(NpgsqlConnection connection, NpgsqlTransaction tx, Table table,
        Dictionary<RowKey, object?[]> expected, CancellationToken ct)
    {
        var problems = new List<string>();
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
                var key = new RowKey(table, values);
                if (!expected.Remove(key, out var implied)) problems.Add($"{table.Name} {Rows.Key(table, values)}: present but no event implies it");
                else if (!Rows.Same(table, implied, values))
                    problems.Add($"{table.Name} {Rows.Key(table, values)}: is ({Rows.Text(table, values)}) but the log implies ({Rows.Text(table, implied)})");
            }
        // What is left was implied by the log and never found.
        foreach (var row in expected.Values)
            problems.Add($"{table.Name} {Rows.Key(table, row)}: missing; the log implies ({Rows.Text(table, row)})");
        return problems.Count <= MaxPerTable ? problems : [.. problems.Take(MaxPerTable), $"{table.Name}: and {problems.Count - MaxPerTable} more"];
    }

    /// <summary>The rows the log implies, by table and key, as the builder makes them.</summary>
    private sealed class ExpectedRows : IRowSink
    {
        private readonly Dictionary<Table, Dictionary<RowKey, object?[]>> _tables = new(ReferenceEqualityComparer.Instance);

        public void Row(Table table, object?[] values) => For(table)[new RowKey(table, values)] = values;

        public Dictionary<RowKey, object?[]> For(Table table) =>
            _tables.TryGetValue(table, out var rows) ? rows : _tables[table] = [];
    }

    /// <summary>Row values compared as the tables store them, and written one way whichever side they came from.</summary>
    private static class Rows
    {
        public static bool Same(Table table, object?[] implied, object?[] stored)
        {
            for (var i = 0; i < implied.Length; i++)
                if (!Same(implied[i], stored[i], table.Columns[i].Type)) return false;
            return true;
        }

        private static bool Same(object? implied, object? stored, NpgsqlDbType type) => (implied, stored) switch
        {
            (null, null) => true,
            (null, _) or (_, null) => false,
            // timestamptz keeps microseconds: the event's instant is compared at what the table can hold.
            (DateTime a, DateTime b) => Microseconds(a) == Microseconds(b),
            // jsonb is stored in its own form: equal JSON is equal text once canonical.
            (string a, string b) when type == NpgsqlDbType.Jsonb => a == b || HashChain.Json(a) == HashChain.Json(b),
            _ when implied.GetType() == stored.GetType() => implied.Equals(stored),
            _ => Format(implied, type) == Format(stored, type),
        };

        private static long Microseconds(DateTime t) => t.ToUniversalTime().Ticks / 10;

        public static string Key(Table table, object?[] values) =>
            string.Join(" ", table.KeyIndexes.Select(i => $"{table.Columns[i].Name}={Format(values[i], NpgsqlDbType.Text)}"));

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
