using System.Text.Json;
using Npgsql;
using NpgsqlTypes;

namespace Ledger.EventStore;

/// <summary>
/// Streams of events in PostgreSQL. One round trip per append: the append, the inline projections and any
/// side records the caller adds travel in one batch and commit together.
/// </summary>
public sealed class PostgresEventStore<TEvent>(
    NpgsqlDataSource dataSource,
    IEventCodec<TEvent> codec,
    IEnumerable<IInlineProjection<TEvent>> projections)
{
    private const string ConflictSqlState = "LDG01";
    private readonly IInlineProjection<TEvent>[] _projections = projections.ToArray();

    public IEventCodec<TEvent> Codec => codec;
    public IReadOnlyList<IInlineProjection<TEvent>> Projections => _projections;

    /// <summary>
    /// Appends <paramref name="events"/> to a stream that must be at <paramref name="expectedVersion"/> (0: new stream).
    /// <paramref name="sideRecords"/> adds statements (an idempotency record, say) to the same transaction.
    /// </summary>
    /// <exception cref="ConcurrencyException">The stream was at another version.</exception>
    public async Task<AppendResult> AppendAsync(
        string streamId,
        long expectedVersion,
        IReadOnlyList<TEvent> events,
        EventMetadata metadata,
        Action<NpgsqlBatch>? sideRecords = null,
        CancellationToken ct = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(expectedVersion);
        await using var batch = dataSource.CreateBatch();
        // Side records go first: a claim that is already taken fails the batch at its first statement,
        // before the append's work is done and rolled back.
        sideRecords?.Invoke(batch);
        var sideCount = batch.BatchCommands.Count;
        var pending = new PendingEvent<TEvent>[events.Count];
        if (events.Count > 0)
        {
            var types = new string[events.Count];
            var data = new string[events.Count];
            var times = new DateTime[events.Count];
            for (var i = 0; i < events.Count; i++)
            {
                types[i] = codec.TypeNameOf(events[i]);
                data[i] = codec.Serialize(events[i]);
                var at = codec.OccurredAt(events[i]);
                times[i] = at.UtcDateTime;
                pending[i] = new PendingEvent<TEvent>(streamId, expectedVersion + i + 1, types[i], events[i], at, metadata);
            }
            var metadataJson = JsonSerializer.Serialize(metadata, StoreJsonContext.Default.EventMetadata);
            batch.BatchCommands.Add(Command(
                "select appended_sequence, appended_version from ledger_append($1, $2, $3, $4, $5, $6, $7)",
                new NpgsqlParameter<string> { TypedValue = streamId },
                new NpgsqlParameter<string> { TypedValue = codec.StreamType },
                new NpgsqlParameter<long> { TypedValue = expectedVersion },
                new NpgsqlParameter<string[]> { TypedValue = types, NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Text },
                new NpgsqlParameter<string[]> { TypedValue = data, NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Json },
                new NpgsqlParameter<string[]> { TypedValue = Enumerable.Repeat(metadataJson, events.Count).ToArray(), NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Json },
                new NpgsqlParameter<DateTime[]> { TypedValue = times, NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.TimestampTz }));
            foreach (var projection in _projections) projection.Project(pending, batch);
        }
        if (batch.BatchCommands.Count == 0) return new AppendResult(expectedVersion, []);

        try
        {
            // Safe to retry: if a lost acknowledgement hid a commit, the retry finds the stream moved (a conflict)
            // or the side record taken, never a second copy of the events.
            var sequences = await TransientRetry.RunAsync(async () =>
            {
                var appended = new List<long>(events.Count);
                // Without an explicit transaction, the whole batch runs in one implicit transaction:
                // any failing statement rolls back the append, the projections and the side records alike.
                await using var reader = await batch.ExecuteReaderAsync(ct);
                for (var i = 0; i < sideCount; i++) await reader.NextResultAsync(ct);
                if (events.Count > 0)
                    while (await reader.ReadAsync(ct)) appended.Add(reader.GetInt64(0));
                while (await reader.NextResultAsync(ct)) { }
                return appended;
            }, ct);
            return new AppendResult(expectedVersion + events.Count, sequences);
        }
        catch (PostgresException e) when (e.SqlState == ConflictSqlState)
        {
            throw new ConcurrencyException(streamId, expectedVersion, e.MessageText);
        }
    }

    /// <summary>
    /// Writes whole new streams with binary COPY, hashes chained here: for imports and benchmarks, far faster than
    /// appending. Inline projections do not run: rebuild them afterwards. Fails (and writes nothing of the chunk)
    /// if a stream already exists. Commits every <paramref name="chunk"/> streams.
    /// </summary>
    public async Task<long> ImportAsync(
        IEnumerable<(string StreamId, IReadOnlyList<TEvent> Events)> streams, EventMetadata metadata, int chunk = 10_000, CancellationToken ct = default)
    {
        var metadataJson = JsonSerializer.Serialize(metadata, StoreJsonContext.Default.EventMetadata);
        long written = 0;
        foreach (var part in streams.Chunk(chunk))
        {
            await using var connection = await dataSource.OpenConnectionAsync(ct);
            await using var tx = await connection.BeginTransactionAsync(ct);
            await using (var copy = await connection.BeginBinaryImportAsync(
                "copy streams (stream_id, stream_type, version, created_at, updated_at) from stdin (format binary)", ct))
            {
                foreach (var (id, events) in part)
                {
                    await copy.StartRowAsync(ct);
                    await copy.WriteAsync(id, NpgsqlDbType.Text, ct);
                    await copy.WriteAsync(codec.StreamType, NpgsqlDbType.Text, ct);
                    await copy.WriteAsync((long)events.Count, NpgsqlDbType.Bigint, ct);
                    await copy.WriteAsync(codec.OccurredAt(events[0]).UtcDateTime, NpgsqlDbType.TimestampTz, ct);
                    await copy.WriteAsync(codec.OccurredAt(events[^1]).UtcDateTime, NpgsqlDbType.TimestampTz, ct);
                }
                await copy.CompleteAsync(ct);
            }
            await using (var copy = await connection.BeginBinaryImportAsync(
                "copy events (stream_id, version, type, data, metadata, occurred_at, previous_hash, hash) from stdin (format binary)", ct))
            {
                foreach (var (id, events) in part)
                {
                    byte[]? previous = null;
                    for (var i = 0; i < events.Count; i++)
                    {
                        var (type, data, at) = (codec.TypeNameOf(events[i]), codec.Serialize(events[i]), codec.OccurredAt(events[i]));
                        var hash = HashChain.Hash(previous, HashChain.Canonical(id, i + 1, type, at, data, metadataJson));
                        await copy.StartRowAsync(ct);
                        await copy.WriteAsync(id, NpgsqlDbType.Text, ct);
                        await copy.WriteAsync((long)(i + 1), NpgsqlDbType.Bigint, ct);
                        await copy.WriteAsync(type, NpgsqlDbType.Text, ct);
                        await copy.WriteAsync(data, NpgsqlDbType.Json, ct);
                        await copy.WriteAsync(metadataJson, NpgsqlDbType.Json, ct);
                        await copy.WriteAsync(at.UtcDateTime, NpgsqlDbType.TimestampTz, ct);
                        if (previous is null) await copy.WriteNullAsync(ct);
                        else await copy.WriteAsync(previous, NpgsqlDbType.Bytea, ct);
                        await copy.WriteAsync(hash, NpgsqlDbType.Bytea, ct);
                        previous = hash;
                        written++;
                    }
                }
                await copy.CompleteAsync(ct);
            }
            await tx.CommitAsync(ct);
        }
        return written;
    }

    /// <summary>A stream, oldest first, optionally cut at a version or a moment (inclusive).</summary>
    public async Task<IReadOnlyList<StoredEvent<TEvent>>> ReadStreamAsync(
        string streamId, long? toVersion = null, DateTimeOffset? toTime = null, CancellationToken ct = default)
    {
        await using var cmd = dataSource.CreateCommand($"""
            select {Columns} from events
            where stream_id = $1 and version <= $2 and occurred_at <= $3
            order by version
            """);
        cmd.Parameters.Add(new NpgsqlParameter<string> { TypedValue = streamId });
        cmd.Parameters.Add(new NpgsqlParameter<long> { TypedValue = toVersion ?? long.MaxValue });
        cmd.Parameters.Add(new NpgsqlParameter<DateTime> { TypedValue = (toTime ?? DateTimeOffset.MaxValue).UtcDateTime, NpgsqlDbType = NpgsqlDbType.TimestampTz });
        return await ReadEvents(cmd, ct);
    }

    /// <summary>
    /// The global log after <paramref name="after"/> (a sequence), in commit-safe order: (transaction id, sequence),
    /// cut at the oldest transaction still in flight. An event whose transaction commits later is delivered later;
    /// none is skipped and none is delivered twice, and nobody waits on a timeout to find out.
    /// </summary>
    public async Task<LogPage<TEvent>> ReadAllAsync(long after, int limit, CancellationToken ct = default)
    {
        var position = await PositionOfAsync(after, ct);
        var (events, hasMore) = await ReadFromAsync(position, limit, commitSafe: true, ct);
        return new LogPage<TEvent>(events, events.Count > 0 ? events[^1].Sequence : after, hasMore);
    }

    /// <summary>Where a sequence stands in commit order: the transaction that wrote it (or the nearest one before it).</summary>
    public async Task<LogPosition> PositionOfAsync(long sequence, CancellationToken ct = default)
    {
        if (sequence <= 0) return LogPosition.Start;
        await using var cmd = dataSource.CreateCommand(
            "select transaction_id from events where sequence <= $1 order by sequence desc limit 1");
        cmd.Parameters.Add(new NpgsqlParameter<long> { TypedValue = sequence });
        return await cmd.ExecuteScalarAsync(ct) is ulong txid ? new LogPosition(txid, sequence) : LogPosition.Start;
    }

    /// <summary>
    /// Events after <paramref name="after"/> in (transaction id, sequence) order. <paramref name="commitSafe"/>: stop at the
    /// oldest transaction in flight. Pass false only while holding a lock that keeps writers out (a rebuild's swap).
    /// </summary>
    public async Task<(IReadOnlyList<StoredEvent<TEvent>> Events, bool HasMore)> ReadFromAsync(
        LogPosition after, int limit, bool commitSafe, CancellationToken ct = default, NpgsqlConnection? connection = null)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(limit);
        // Every transaction below the snapshot's xmin has ended, so nothing can still appear before the cut.
        var sql = $"""
            select {Columns} from events
            where (transaction_id, sequence) > ($1::xid8, $2)
              {(commitSafe ? "and transaction_id < pg_snapshot_xmin(pg_current_snapshot())" : "")}
            order by transaction_id, sequence
            limit $3
            """;
        await using var cmd = connection is null ? dataSource.CreateCommand(sql) : new NpgsqlCommand(sql, connection);
        cmd.Parameters.Add(new NpgsqlParameter<ulong> { TypedValue = after.TransactionId, NpgsqlDbType = NpgsqlDbType.Xid8 });
        cmd.Parameters.Add(new NpgsqlParameter<long> { TypedValue = after.Sequence });
        cmd.Parameters.Add(new NpgsqlParameter<int> { TypedValue = limit + 1 });
        var events = await ReadEvents(cmd, ct, ownConnection: connection is null);
        var hasMore = events.Count > limit;
        return (hasMore ? events.Take(limit).ToList() : events, hasMore);
    }

    /// <summary>The commit-safe horizon now: every event of a transaction below it is committed or never will be.</summary>
    public async Task<ulong> HorizonAsync(CancellationToken ct = default)
    {
        await using var cmd = dataSource.CreateCommand("select pg_snapshot_xmin(pg_current_snapshot())");
        return (ulong)(await cmd.ExecuteScalarAsync(ct))!;
    }

    /// <summary>
    /// Every event written by a transaction below <paramref name="horizon"/> (null: every visible event), stream by
    /// stream, each in version order: what a rebuild or an audit folds. Streamed: the log never has to fit in memory.
    /// Pass <paramref name="connection"/> to read inside its transaction (an audit's snapshot).
    /// </summary>
    public async IAsyncEnumerable<StoredEvent<TEvent>> StreamAllBelowAsync(
        ulong? horizon, NpgsqlConnection? connection = null,
        [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken ct = default)
    {
        await using var own = connection is null ? await dataSource.OpenConnectionAsync(ct) : null;
        await using var cmd = new NpgsqlCommand($"""
            select {Columns} from events {(horizon is null ? "" : "where transaction_id < $1")} order by stream_id, version
            """, connection ?? own);
        if (horizon is not null)
            cmd.Parameters.Add(new NpgsqlParameter<ulong> { TypedValue = horizon.Value, NpgsqlDbType = NpgsqlDbType.Xid8 });
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct)) yield return ReadEvent(reader);
    }

    /// <summary>The events of transactions below <paramref name="horizon"/>: the size of what <see cref="StreamAllBelowAsync"/> yields.</summary>
    public async Task<long> CountBelowAsync(ulong horizon, CancellationToken ct = default)
    {
        await using var cmd = dataSource.CreateCommand("select count(*) from events where transaction_id < $1");
        cmd.Parameters.Add(new NpgsqlParameter<ulong> { TypedValue = horizon, NpgsqlDbType = NpgsqlDbType.Xid8 });
        return (long)(await cmd.ExecuteScalarAsync(ct))!;
    }

    private const string Columns =
        "sequence, stream_id, version, type, data::text, metadata::text, occurred_at, transaction_id, hash, previous_hash";

    /// <param name="ownConnection">The command takes its own pooled connection: a read that is always safe to repeat.
    /// On a caller's connection (inside its transaction) a failure is the caller's to handle.</param>
    private Task<IReadOnlyList<StoredEvent<TEvent>>> ReadEvents(NpgsqlCommand cmd, CancellationToken ct, bool ownConnection = true) =>
        ownConnection ? TransientRetry.RunAsync(() => ReadOnce(cmd, ct), ct) : ReadOnce(cmd, ct);

    private async Task<IReadOnlyList<StoredEvent<TEvent>>> ReadOnce(NpgsqlCommand cmd, CancellationToken ct)
    {
        var result = new List<StoredEvent<TEvent>>();
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct)) result.Add(ReadEvent(reader));
        return result;
    }

    private StoredEvent<TEvent> ReadEvent(NpgsqlDataReader reader)
    {
        var type = reader.GetString(3);
        var dataJson = reader.GetString(4);
        var metadataJson = reader.GetString(5);
        return new StoredEvent<TEvent>(
            Sequence: reader.GetInt64(0),
            StreamId: reader.GetString(1),
            Version: reader.GetInt64(2),
            Type: type,
            Data: codec.Deserialize(type, dataJson),
            DataJson: dataJson,
            Metadata: JsonSerializer.Deserialize(metadataJson, StoreJsonContext.Default.EventMetadata)!,
            MetadataJson: metadataJson,
            OccurredAt: reader.GetFieldValue<DateTimeOffset>(6),
            TransactionId: reader.GetFieldValue<ulong>(7),
            Hash: reader.GetFieldValue<byte[]>(8),
            PreviousHash: reader.IsDBNull(9) ? null : reader.GetFieldValue<byte[]>(9));
    }

    private static NpgsqlBatchCommand Command(string sql, params NpgsqlParameter[] parameters)
    {
        var command = new NpgsqlBatchCommand(sql);
        command.Parameters.AddRange(parameters);
        return command;
    }
}
