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

        // The rows the log implies go, as the fold makes them, into temporary tables on connections that read this
        // transaction's snapshot; PostgreSQL then compares them with the read tables. Memory does not grow with the read
        // model, and only rows that differ come back.
        string snapshot;
        await using (var export = new NpgsqlCommand("select pg_export_snapshot()", connection, tx))
            snapshot = (string)(await export.ExecuteScalarAsync(ct))!;
        await using var implied = await ImpliedRows.OpenAsync(db, snapshot, ct);
        var builder = new ReadModelBuilder(implied.Copies);
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
        await implied.Copies.CompleteAsync(ct);
        progress?.Report((events, total));
        foreach (var (id, version) in recorded.Where(r => !seen.Contains(r.Key)))
            problems.Add($"stream {id}: the stream is at version {version} but the log holds no events; events were removed");

        if (checkpoints is not null) problems.AddRange(await checkpoints.CheckAsync(connection, tx, ct));
        foreach (var table in ReadModelTables.All)
            problems.AddRange(await implied.CompareAsync(table, ct));

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
    /// Each read table's implied rows, in a temporary table of the same columns on a connection of its own (one COPY
    /// per connection), every connection in a transaction on the audit's snapshot. Dropped when those end.
    /// </summary>
    private sealed class ImpliedRows : IAsyncDisposable
    {
        private readonly List<(Table Table, NpgsqlConnection Connection, NpgsqlTransaction Transaction)> _tables = [];

        public RowCopies Copies { get; private set; } = null!;

        private static string Temporary(Table table) => $"audit_{table.Name}";

        public static async Task<ImpliedRows> OpenAsync(NpgsqlDataSource db, string snapshot, CancellationToken ct)
        {
            var rows = new ImpliedRows();
            try
            {
                foreach (var table in ReadModelTables.All)
                {
                    var connection = await db.OpenConnectionAsync(ct);
                    var transaction = await connection.BeginTransactionAsync(System.Data.IsolationLevel.RepeatableRead, ct);
                    rows._tables.Add((table, connection, transaction));
                    // Without the table's constraints: a row the log implies that breaks one is a finding, not a failure.
                    await using var create = new NpgsqlCommand($"""
                        set transaction snapshot '{snapshot}';
                        create temporary table {Temporary(table)} on commit drop as select {table.ColumnList} from {table.Name} with no data
                        """, connection, transaction);
                    await create.ExecuteNonQueryAsync(ct);
                }
                rows.Copies = await RowCopies.OpenAsync(rows._tables.Select(t => (t.Table, t.Connection, Temporary(t.Table))), ct);
                return rows;
            }
            catch
            {
                await rows.DisposeAsync();
                throw;
            }
        }

        /// <summary>
        /// The table as stored against the rows the log implies, by key, every column (jsonb by value, times to the
        /// microsecond as stored): at most <see cref="MaxPerTable"/> findings, then how many more.
        /// </summary>
        public async Task<List<string>> CompareAsync(Table table, CancellationToken ct)
        {
            var (_, connection, transaction) = _tables.Single(t => t.Table == table);
            string Columns(string alias) => string.Join(", ", table.Columns.Select(c => c.Type == NpgsqlDbType.Jsonb ? $"{alias}.{c.Name}::text" : $"{alias}.{c.Name}"));
            string Row(string alias) => $"row({string.Join(", ", table.Columns.Select(c => $"{alias}.{c.Name}"))})";
            var key = table.Key;
            var first = key[0];
            await using var cmd = new NpgsqlCommand($"""
                select {Columns("i")}, {Columns("s")}, i.{first} is null, s.{first} is null, count(*) over ()
                from {Temporary(table)} i full join {table.Name} s on {string.Join(" and ", key.Select(k => $"i.{k} = s.{k}"))}
                where i.{first} is null or s.{first} is null or {Row("i")} is distinct from {Row("s")}
                order by {string.Join(", ", key.Select(k => $"coalesce(s.{k}, i.{k})"))}
                limit {MaxPerTable}
                """, connection, transaction);
            var problems = new List<string>();
            long differing = 0;
            await using var reader = await cmd.ExecuteReaderAsync(ct);
            var width = table.Columns.Length;
            while (await reader.ReadAsync(ct))
            {
                var (implied, stored) = (Values(reader, table, 0), Values(reader, table, width));
                differing = reader.GetInt64(2 * width + 2);
                if (reader.GetBoolean(2 * width))
                    problems.Add($"{table.Name} {Rows.Key(table, stored)}: present but no event implies it");
                else if (reader.GetBoolean(2 * width + 1))
                    problems.Add($"{table.Name} {Rows.Key(table, implied)}: missing; the log implies ({Rows.Text(table, implied)})");
                else
                    problems.Add($"{table.Name} {Rows.Key(table, stored)}: is ({Rows.Text(table, stored)}) but the log implies ({Rows.Text(table, implied)})");
            }
            if (differing > MaxPerTable) problems.Add($"{table.Name}: and {differing - MaxPerTable} more");
            return problems;
        }

        private static object?[] Values(NpgsqlDataReader reader, Table table, int offset)
        {
            var values = new object?[table.Columns.Length];
            for (var i = 0; i < values.Length; i++)
                values[i] = reader.IsDBNull(offset + i) ? null : table.Columns[i].Type switch
                {
                    NpgsqlDbType.Date => reader.GetFieldValue<DateOnly>(offset + i),
                    NpgsqlDbType.TimestampTz => reader.GetFieldValue<DateTime>(offset + i),
                    _ => reader.GetValue(offset + i),
                };
            return values;
        }

        public async ValueTask DisposeAsync()
        {
            if (Copies is not null) await Copies.DisposeAsync();
            foreach (var (_, connection, transaction) in _tables)
            {
                await transaction.DisposeAsync(); // rolls back: the temporary tables go with it
                await connection.DisposeAsync();
            }
        }
    }

    /// <summary>Row values written one way whichever side they came from.</summary>
    private static class Rows
    {
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
