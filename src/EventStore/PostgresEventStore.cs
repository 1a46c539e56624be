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
        sideRecords?.Invoke(batch);
        if (batch.BatchCommands.Count == 0) return new AppendResult(expectedVersion, []);

        var sequences = new List<long>(events.Count);
        try
        {
            // Without an explicit transaction, the whole batch runs in one implicit transaction:
            // any failing statement rolls back the append, the projections and the side records alike.
            await using var reader = await batch.ExecuteReaderAsync(ct);
            if (events.Count > 0)
                while (await reader.ReadAsync(ct)) sequences.Add(reader.GetInt64(0));
            while (await reader.NextResultAsync(ct)) { }
        }
        catch (PostgresException e) when (e.SqlState == ConflictSqlState)
        {
            throw new ConcurrencyException(streamId, expectedVersion, e.MessageText);
        }
        return new AppendResult(expectedVersion + events.Count, sequences);
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
    /// The global log after <paramref name="after"/>, in commit-safe order: (transaction id, sequence), cut at
    /// the oldest transaction still in flight. An event whose transaction commits later is delivered later;
    /// none is skipped and none is delivered twice, and nobody waits on a timeout to find out.
    /// </summary>
    public async Task<LogPage<TEvent>> ReadAllAsync(long after, int limit, CancellationToken ct = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(limit);
        // The cursor is a sequence; its place in commit order is the transaction that wrote it.
        // Every transaction below the snapshot's xmin has ended, so nothing can still appear before the cut.
        await using var cmd = dataSource.CreateCommand($"""
            with cursor_position as (
                select coalesce(
                    (select transaction_id from events where sequence <= $1 order by sequence desc limit 1),
                    '0'::xid8) as transaction_id
            )
            select {Columns} from events, cursor_position c
            where (events.transaction_id, events.sequence) > (c.transaction_id, $1)
              and events.transaction_id < pg_snapshot_xmin(pg_current_snapshot())
            order by events.transaction_id, events.sequence
            limit $2
            """);
        cmd.Parameters.Add(new NpgsqlParameter<long> { TypedValue = after });
        cmd.Parameters.Add(new NpgsqlParameter<int> { TypedValue = limit + 1 });
        var events = await ReadEvents(cmd, ct);
        var hasMore = events.Count > limit;
        var page = hasMore ? events.Take(limit).ToList() : events;
        return new LogPage<TEvent>(page, page.Count > 0 ? page[^1].Sequence : after, hasMore);
    }

    private const string Columns =
        "events.sequence, events.stream_id, events.version, events.type, events.data::text, events.metadata::text, " +
        "events.occurred_at, events.transaction_id, events.hash, events.previous_hash";

    private async Task<IReadOnlyList<StoredEvent<TEvent>>> ReadEvents(NpgsqlCommand cmd, CancellationToken ct)
    {
        var result = new List<StoredEvent<TEvent>>();
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct))
        {
            var type = reader.GetString(3);
            var dataJson = reader.GetString(4);
            var metadataJson = reader.GetString(5);
            result.Add(new StoredEvent<TEvent>(
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
                PreviousHash: reader.IsDBNull(9) ? null : reader.GetFieldValue<byte[]>(9)));
        }
        return result;
    }

    private static NpgsqlBatchCommand Command(string sql, params NpgsqlParameter[] parameters)
    {
        var command = new NpgsqlBatchCommand(sql);
        command.Parameters.AddRange(parameters);
        return command;
    }
}
