using System.Diagnostics;
using Ledger.Domain.Payments;
using Ledger.EventStore;
using Ledger.Projections.Payments;
using Npgsql;

namespace Ledger.Projections.Rebuild;

public sealed class RebuildInProgressException()
    : Exception("Another projection rebuild is running against this database; wait for it to finish.");

public sealed record RebuildResult(IReadOnlyList<string> Projections, long Events, long CaughtUp, TimeSpan Elapsed)
{
    public double EventsPerSecond => Events / Math.Max(Elapsed.TotalSeconds, 0.001);
}

/// <summary>
/// Rebuilds projections from the log while the API keeps serving and appending:
/// 1. fresh tables in schema ledger_rebuild, like the live ones;
/// 2. every event below the commit-safe horizon, stream by stream, folded in memory and written with binary COPY;
/// 3. events appended since, applied with the inline projections' own statements (commit-safe, no lock);
/// 4. under a lock that holds writers (not readers) back: the last events, then the tables swapped in one transaction.
/// The inline statements are guarded by stream version, so an event is never applied twice, and the horizon
/// and the commit-safe reader guarantee none is missed.
/// </summary>
public sealed class ProjectionRebuilder(NpgsqlDataSource db, EventLog<PaymentEvent> store)
{
    private const string Schema = "ledger_rebuild";
    private const long RebuildLockKey = 7_240_002;
    private const int CatchUpPage = 5_000;

    public async Task<RebuildResult> RebuildAsync(IReadOnlyCollection<string> projections, IProgress<(long Done, long Total)>? progress, CancellationToken ct)
    {
        var unknown = projections.Except(ReadModelTables.Projections).ToList();
        if (unknown.Count > 0) throw new ArgumentException($"Unknown projection(s): {string.Join(", ", unknown)}.", nameof(projections));
        var tables = ReadModelTables.All.Where(t => projections.Contains(t.Projection)).ToList();
        var inline = ReadModel.InlineProjections().Where(p => projections.Contains(p.Name)).ToList();
        var clock = Stopwatch.StartNew();
        using var span = LedgerActivity.Start("ledger.rebuild");
        span?.SetTag("ledger.projections", string.Join(',', projections));

        // One rebuild at a time: a second would drop the first one's half-built tables. Held for the whole run.
        await using var guard = await db.OpenConnectionAsync(ct);
        await using (var take = new NpgsqlCommand($"select pg_try_advisory_lock({RebuildLockKey})", guard))
            if (!(bool)(await take.ExecuteScalarAsync(ct))!)
                throw new RebuildInProgressException();
        try
        {
            var result = await RebuildLockedAsync(projections, tables, inline, clock, progress, ct);
            span?.SetTag("ledger.events", result.Events);
            return result;
        }
        catch (Exception e) when (span.RecordsFailure(e))
        {
            throw; // never reached: the filter records the failure and lets the exception go on
        }
        finally
        {
            // Pooled connections are not reset on return: a session lock must be let go by hand.
            await using var release = new NpgsqlCommand($"select pg_advisory_unlock({RebuildLockKey})", guard);
            await release.ExecuteNonQueryAsync(CancellationToken.None);
        }
    }

    private async Task<RebuildResult> RebuildLockedAsync(IReadOnlyCollection<string> projections, List<Table> tables,
        List<PaymentProjection> inline, Stopwatch clock, IProgress<(long Done, long Total)>? progress, CancellationToken ct)
    {

        // Without keys or indexes: a bulk load into a bare table, then one index build, beats updating indexes row by row.
        await ExecuteAsync($"drop schema if exists {Schema} cascade; create schema {Schema};" +
            string.Concat(tables.Select(t => $"create table {Schema}.{t.Name} (like public.{t.Name} including defaults including constraints);")), ct);

        var horizon = await store.HorizonAsync(ct);
        var total = await store.CountBelowAsync(horizon, ct);
        long done = 0;
        using (var load = LedgerActivity.Start("ledger.rebuild.load")) // everything below the horizon, by COPY into bare tables
        await using (var sink = await CopySink.OpenAsync(db, Schema, tables, ct))
        {
            var builder = new ReadModelBuilder(sink, projections.ToHashSet());
            await foreach (var e in store.StreamAllBelowAsync(horizon, ct: ct))
            {
                builder.Add(e);
                if (++done % 10_000 == 0) progress?.Report((done, total));
            }
            builder.Complete();
            await sink.CompleteAsync(ct);
            load?.SetTag("ledger.events", done);
        }
        progress?.Report((done, total));
        // Each table's keys and indexes on a connection of its own, as many tables at once as there are cores: the
        // database builds them in parallel (a table's own DDL stays in order on its connection).
        using (LedgerActivity.Start("ledger.rebuild.indexes"))
            await Parallel.ForEachAsync(await KeysAndIndexesAsync(tables, ct),
            new ParallelOptions { MaxDegreeOfParallelism = Environment.ProcessorCount, CancellationToken = ct },
            async (ddl, token) => await ExecuteAsync(ddl, token));

        // Everything at or after the horizon, in commit order: first without a lock, then the rest under it.
        var position = new LogPosition(horizon - 1, long.MaxValue);
        long caughtUp = 0;
        while (true)
        {
            var (events, hasMore) = await store.ReadFromAsync(position, CatchUpPage, commitSafe: true, ct);
            if (events.Count == 0) break;
            await ApplyAsync(null, inline, events, ct);
            (position, caughtUp) = (LogPosition.Of(events[^1]), caughtUp + events.Count);
            if (!hasMore) break;
        }

        await using var connection = await db.OpenConnectionAsync(ct);
        await using var tx = await connection.BeginTransactionAsync(ct);
        // EXCLUSIVE lets readers read and keeps writers out; it waits for appends in flight to finish.
        await ExecuteAsync(connection, $"lock table {MartenEventLog.Schema}.mt_events in exclusive mode", ct);
        while (true)
        {
            var (events, hasMore) = await store.ReadFromAsync(position, CatchUpPage, commitSafe: false, ct, connection);
            if (events.Count == 0) break;
            await ApplyAsync(connection, inline, events, ct);
            (position, caughtUp) = (LogPosition.Of(events[^1]), caughtUp + events.Count);
            if (!hasMore) break;
        }
        await ExecuteAsync(connection, "create schema ledger_retired;" +
            string.Concat(tables.Select(t => $"alter table public.{t.Name} set schema ledger_retired; alter table {Schema}.{t.Name} set schema public;")) +
            $"drop schema ledger_retired cascade; drop schema {Schema};", ct);
        clock.Stop();
        foreach (var projection in projections)
        {
            await using var record = new NpgsqlCommand("""
                insert into projection_rebuilds (projection, rebuilt_at, through_tx, events, caught_up, seconds)
                values ($1, now(), $2, $3, $4, $5)
                on conflict (projection) do update set rebuilt_at = excluded.rebuilt_at, through_tx = excluded.through_tx,
                    events = excluded.events, caught_up = excluded.caught_up, seconds = excluded.seconds
                """, connection, tx);
            record.Parameters.Add(new NpgsqlParameter { Value = projection });
            record.Parameters.Add(new NpgsqlParameter { Value = horizon, NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Xid8 });
            record.Parameters.Add(new NpgsqlParameter { Value = done + caughtUp });
            record.Parameters.Add(new NpgsqlParameter { Value = caughtUp });
            record.Parameters.Add(new NpgsqlParameter { Value = clock.Elapsed.TotalSeconds });
            await record.ExecuteNonQueryAsync(ct);
        }
        await tx.CommitAsync(ct);
        return new RebuildResult(projections.ToList(), done + caughtUp, caughtUp, clock.Elapsed);
    }

    /// <summary>
    /// The live tables' keys and indexes, as DDL for the new tables, same names (they live in another schema until the
    /// swap): one script per table, largest table first.
    /// </summary>
    private async Task<List<string>> KeysAndIndexesAsync(IEnumerable<Table> tables, CancellationToken ct)
    {
        await using var cmd = db.CreateCommand("""
            select ddl.tablename, string_agg(ddl.statement, E'\n' order by ddl.kind, ddl.statement)
            from (
                select t.relname::text as tablename, 0 as kind,
                       format('alter table %I.%I add constraint %I %s;', $1::text, t.relname, c.conname, pg_get_constraintdef(c.oid)) as statement
                from pg_constraint c join pg_class t on t.oid = c.conrelid
                where c.conrelid = any($2::regclass[]) and c.contype in ('p', 'u')
                union all
                select i.tablename::text, 1, replace(i.indexdef, ' ON public.', format(' ON %I.', $1::text)) || ';'
                from pg_indexes i
                where i.schemaname = 'public' and i.tablename = any($3)
                  and not exists (select 1 from pg_constraint c where c.conindid = (quote_ident(i.schemaname) || '.' || quote_ident(i.indexname))::regclass)
            ) ddl
            group by ddl.tablename
            order by pg_total_relation_size(format('%I.%I', $1::text, ddl.tablename)::regclass) desc
            """);
        var names = tables.Select(t => t.Name).ToArray();
        cmd.Parameters.Add(new NpgsqlParameter { Value = Schema });
        cmd.Parameters.Add(new NpgsqlParameter { Value = names.Select(n => $"public.{n}").ToArray(), NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Array | NpgsqlTypes.NpgsqlDbType.Text });
        cmd.Parameters.Add(new NpgsqlParameter { Value = names });
        var scripts = new List<string>();
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct)) scripts.Add(reader.GetString(1));
        return scripts;
    }

    /// <summary>
    /// Applies events to the new tables with the inline projections' statements (search_path picks the new tables), each
    /// stream's events grouped in version order and folded onto what came before them, as an append's would be.
    /// </summary>
    private async Task ApplyAsync(NpgsqlConnection? locked, List<PaymentProjection> inline,
        IReadOnlyList<StoredEvent<PaymentEvent>> events, CancellationToken ct)
    {
        using var span = LedgerActivity.Start("ledger.rebuild.catch_up");
        span?.SetTag("ledger.events", events.Count);
        span?.SetTag("ledger.locked", locked is not null);
        var streams = events.GroupBy(e => e.StreamId).ToList();
        var continued = streams.Where(s => s.First().Version > 1).Select(s => s.Key).ToList();
        var earlier = (continued.Count == 0 ? [] : await store.ReadStreamsAsync(continued, ct)).ToLookup(e => e.StreamId);
        var pending = new List<PendingEvent<PaymentEvent>>(events.Count);
        foreach (var stream in streams)
        {
            var first = stream.First().Version;
            var before = Payment.Fold(earlier[stream.Key].Where(e => e.Version < first).Select(e => e.Data));
            pending.AddRange(stream.Select(e => new PendingEvent<PaymentEvent>(e.StreamId, e.Version, e.Type, e.Data, e.OccurredAt, e.Metadata, before)));
        }
        await using var own = locked is null ? await db.OpenConnectionAsync(ct) : null;
        var connection = locked ?? own!;
        await using var batch = new NpgsqlBatch(connection);
        batch.BatchCommands.Add(new NpgsqlBatchCommand($"select set_config('search_path', '{Schema}, public', true)"));
        foreach (var projection in inline) projection.Project(pending, batch.BatchCommands);
        batch.BatchCommands.Add(new NpgsqlBatchCommand("select set_config('search_path', 'public', true)"));
        await batch.ExecuteNonQueryAsync(ct);
    }

    private async Task ExecuteAsync(string sql, CancellationToken ct)
    {
        await using var connection = await db.OpenConnectionAsync(ct);
        await ExecuteAsync(connection, sql, ct);
    }

    private static async Task ExecuteAsync(NpgsqlConnection connection, string sql, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand(sql, connection);
        await cmd.ExecuteNonQueryAsync(ct);
    }

    /// <summary>One binary COPY per table, all open at once, each on its own connection.</summary>
    private sealed class CopySink : IRowSink, IAsyncDisposable
    {
        private readonly Dictionary<string, (NpgsqlConnection Connection, NpgsqlBinaryImporter Importer)> _copies = [];

        public static async Task<CopySink> OpenAsync(NpgsqlDataSource db, string schema, IEnumerable<Table> tables, CancellationToken ct)
        {
            var sink = new CopySink();
            foreach (var table in tables)
            {
                var connection = await db.OpenConnectionAsync(ct);
                var importer = await connection.BeginBinaryImportAsync($"copy {schema}.{table.Name} ({table.ColumnList}) from stdin (format binary)", ct);
                sink._copies[table.Name] = (connection, importer);
            }
            return sink;
        }

        public void Row(Table table, object?[] values)
        {
            var importer = _copies[table.Name].Importer;
            importer.StartRow();
            for (var i = 0; i < values.Length; i++)
                if (values[i] is null) importer.WriteNull();
                else importer.Write(values[i]!, table.Columns[i].Type);
        }

        public async Task CompleteAsync(CancellationToken ct)
        {
            foreach (var (_, importer) in _copies.Values) await importer.CompleteAsync(ct);
        }

        public async ValueTask DisposeAsync()
        {
            foreach (var (connection, importer) in _copies.Values)
            {
                await importer.DisposeAsync();
                await connection.DisposeAsync();
            }
        }
    }
}
