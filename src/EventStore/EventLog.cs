using System.Runtime.ExceptionServices;
using System.Text.Json;
using JasperFx.Events;
using Marten;
using Marten.Exceptions;
using Marten.Services;
using Npgsql;
using NpgsqlTypes;

namespace Ledger.EventStore;

/// <summary>
/// Streams of events in Marten's event store (schema <c>ledger</c>), and what Marten does not give: the hash chain
/// and the commit-safe global log (both from <c>ledger.event_chain</c>, Sql/001_event_chain.sql), the stream reads
/// an auditor needs (hashes and stored text), and a bulk COPY for imports. Appends go through a Marten session: the
/// events, the inline projections registered in <c>AddMarten</c> (<see cref="MartenEventLog"/>) and any side records
/// the caller adds commit in one transaction, in one batch.
/// </summary>
public sealed class EventLog<TEvent>(IDocumentStore marten, NpgsqlDataSource dataSource, IEventCodec<TEvent> codec)
    where TEvent : class
{
    public IEventCodec<TEvent> Codec => codec;

    /// <summary>
    /// Appends <paramref name="events"/> to a stream that must be at <paramref name="expectedVersion"/> (0: new stream).
    /// <paramref name="sideRecords"/> adds statements (an idempotency record, say) to the same transaction.
    /// <paramref name="streamState"/> is the stream as the writer folded it at <paramref name="expectedVersion"/>: the inline
    /// projections see it (<see cref="PendingEvent{TEvent}.StreamState"/>). If the stream has moved on, the append fails
    /// and the state is never used.
    /// </summary>
    /// <exception cref="ConcurrencyException">The stream was at another version.</exception>
    public async Task<AppendResult> AppendAsync(
        string streamId,
        long expectedVersion,
        IReadOnlyList<TEvent> events,
        EventMetadata metadata,
        Action<ICollection<NpgsqlBatchCommand>>? sideRecords = null,
        CancellationToken ct = default,
        NpgsqlTransaction? transaction = null,
        object? streamState = null)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(expectedVersion);
        using var span = LedgerActivity.Start("ledger.append");
        if (span is { IsAllDataRequested: true })
        {
            span.SetTag("ledger.stream.id", streamId);
            span.SetTag("ledger.stream.expected_version", expectedVersion);
            span.SetTag("ledger.events", string.Join(',', events.Select(codec.TypeNameOf)));
        }
        await using var session = transaction is null
            ? marten.LightweightSession()
            : marten.LightweightSession(SessionOptions.ForTransaction(transaction));
        var action = Stage(session, streamId, expectedVersion, events, metadata);
        if (streamState is not null && events.Count > 0) StreamStates.Remember(events[0], streamState);
        if (sideRecords is not null)
        {
            var commands = new List<NpgsqlBatchCommand>(1);
            sideRecords(commands);
            foreach (var command in commands) session.QueueOperation(new SqlOperation(command));
        }
        try
        {
            await session.SaveChangesAsync(ct);
        }
        catch (Exception e) when (span.RecordsFailure(e))
        {
            throw; // never reached: the filter records the failure on the span and lets the exception go on
        }
        catch (Exception e) when (e is EventStreamUnexpectedMaxEventIdException or global::Marten.Exceptions.ExistingStreamIdCollisionException or JasperFx.Events.ExistingStreamIdCollisionException)
        {
            throw new ConcurrencyException(streamId, expectedVersion, e.Message);
        }
        catch (Exception e) when (e is not NpgsqlException && NpgsqlCause(e) is { } cause)
        {
            // Marten wraps what Npgsql said; callers judge by SQLSTATE and constraint (a claim already taken) or by
            // IsTransient (the database is down: a 503, not a 500).
            ExceptionDispatchInfo.Capture(cause).Throw();
            throw;
        }
        return new AppendResult(expectedVersion + events.Count, action?.Events.Select(e => e.Sequence).ToList() ?? []);
    }

    /// <summary>Puts the events on the session, stamped with their own time and metadata.</summary>
    private StreamAction? Stage(IDocumentSession session, string streamId, long expectedVersion, IReadOnlyList<TEvent> events, EventMetadata metadata)
    {
        if (events.Count == 0) return null;
        session.CorrelationId = metadata.CorrelationId;
        session.CausationId = metadata.CausationId;
        session.LastModifiedBy = metadata.Actor;
        var action = expectedVersion == 0
            ? session.Events.StartStream(streamId, events.Cast<object>())
            : session.Events.Append(streamId, expectedVersion + events.Count, events.Cast<object>());
        var metadataJson = MetadataJson(metadata);
        for (var i = 0; i < events.Count; i++)
        {
            var e = action.Events[i];
            e.Timestamp = codec.OccurredAt(events[i]);
            if (metadata.IdempotencyKey is { } key) e.SetHeader(MartenEventLog.IdempotencyKeyHeader, key);
            // Marten assigns nothing the hash covers: the version follows from the expected one (or the append fails),
            // the time is the event's own, the JSON is the value Marten stores.
            e.SetHeader(MartenEventLog.ContentHashHeader, ContentHashOf(streamId, expectedVersion + i + 1, events[i], metadataJson));
        }
        return action;
    }

    /// <summary>The content hash an event carries to the chain trigger (in Marten's headers, which the trigger then strips).</summary>
    private string ContentHashOf(string streamId, long version, TEvent @event, string metadataJson) =>
        Convert.ToHexStringLower(HashChain.ContentHash(
            streamId, version, codec.TypeNameOf(@event), codec.OccurredAt(@event), codec.Serialize(@event), metadataJson));

    private static string MetadataJson(EventMetadata metadata) => HashChain.MetadataJson(metadata);

    private static NpgsqlException? NpgsqlCause(Exception e)
    {
        for (var inner = e; inner is not null; inner = inner.InnerException)
            if (inner is NpgsqlException npgsql) return npgsql;
        return null;
    }

    /// <summary>
    /// Writes whole new streams with binary COPY into Marten's tables (each with its content hash; the chain trigger links them): for
    /// imports and benchmarks, far faster than appending. Inline projections do not run: rebuild them afterwards.
    /// Fails (and writes nothing of the chunk) if a stream already exists. Commits every <paramref name="chunk"/> streams.
    /// </summary>
    public Task<long> ImportAsync(
        IEnumerable<(string StreamId, IReadOnlyList<TEvent> Events)> streams, EventMetadata metadata, int chunk = 10_000, CancellationToken ct = default) =>
        ImportAsync(streams.Select(s => (s.StreamId, (IReadOnlyList<EventMetadata>)Enumerable.Repeat(metadata, s.Events.Count).ToArray(), s.Events)), chunk, ct);

    /// <summary>The same, with each event's own metadata (an import of another log's export).</summary>
    public async Task<long> ImportAsync(
        IEnumerable<(string StreamId, IReadOnlyList<EventMetadata> Metadata, IReadOnlyList<TEvent> Events)> streams, int chunk = 10_000, CancellationToken ct = default)
    {
        string Headers(string streamId, long version, TEvent @event, EventMetadata m)
        {
            var headers = new Dictionary<string, string> { [MartenEventLog.ContentHashHeader] = ContentHashOf(streamId, version, @event, MetadataJson(m)) };
            if (m.IdempotencyKey is { } key) headers[MartenEventLog.IdempotencyKeyHeader] = key;
            return JsonSerializer.Serialize(headers, StoreJsonContext.Default.DictionaryStringString);
        }
        long written = 0;
        foreach (var part in streams.Chunk(chunk))
        {
            await using var connection = await dataSource.OpenConnectionAsync(ct);
            await using var tx = await connection.BeginTransactionAsync(ct);
            var count = part.Sum(p => p.Events.Count);
            // Sequence numbers drawn in one statement, then used in stream order: a chunk's events are contiguous.
            var sequences = new List<long>(count);
            await using (var next = new NpgsqlCommand($"select nextval('{MartenEventLog.Schema}.mt_events_sequence') from generate_series(1, $1)", connection))
            {
                next.Parameters.Add(new NpgsqlParameter<int> { TypedValue = count });
                await using var reader = await next.ExecuteReaderAsync(ct);
                while (await reader.ReadAsync(ct)) sequences.Add(reader.GetInt64(0));
            }
            sequences.Sort();
            await using (var copy = await connection.BeginBinaryImportAsync(
                $"copy {MartenEventLog.Schema}.mt_streams (id, type, version, timestamp, created, tenant_id, is_archived) from stdin (format binary)", ct))
            {
                foreach (var (id, _, events) in part)
                {
                    await copy.StartRowAsync(ct);
                    await copy.WriteAsync(id, NpgsqlDbType.Varchar, ct);
                    await copy.WriteNullAsync(ct); // as Marten's StartStream without an aggregate type writes it
                    await copy.WriteAsync((long)events.Count, NpgsqlDbType.Bigint, ct);
                    await copy.WriteAsync(codec.OccurredAt(events[^1]).UtcDateTime, NpgsqlDbType.TimestampTz, ct);
                    await copy.WriteAsync(codec.OccurredAt(events[0]).UtcDateTime, NpgsqlDbType.TimestampTz, ct);
                    await copy.WriteAsync(MartenEventLog.DefaultTenant, NpgsqlDbType.Varchar, ct);
                    await copy.WriteAsync(false, NpgsqlDbType.Boolean, ct);
                }
                await copy.CompleteAsync(ct);
            }
            await using (var copy = await connection.BeginBinaryImportAsync(
                $"""
                copy {MartenEventLog.Schema}.mt_events (seq_id, id, stream_id, version, data, type, timestamp, tenant_id, is_archived,
                    correlation_id, causation_id, user_name, headers) from stdin (format binary)
                """, ct))
            {
                var s = 0;
                foreach (var (id, metadata, events) in part)
                    for (var i = 0; i < events.Count; i++)
                    {
                        await copy.StartRowAsync(ct);
                        await copy.WriteAsync(sequences[s++], NpgsqlDbType.Bigint, ct);
                        await copy.WriteAsync(Guid.CreateVersion7(), NpgsqlDbType.Uuid, ct);
                        await copy.WriteAsync(id, NpgsqlDbType.Varchar, ct);
                        await copy.WriteAsync((long)(i + 1), NpgsqlDbType.Bigint, ct);
                        await copy.WriteAsync(codec.Serialize(events[i]), NpgsqlDbType.Jsonb, ct);
                        await copy.WriteAsync(codec.TypeNameOf(events[i]), NpgsqlDbType.Varchar, ct);
                        await copy.WriteAsync(codec.OccurredAt(events[i]).UtcDateTime, NpgsqlDbType.TimestampTz, ct);
                        await copy.WriteAsync(MartenEventLog.DefaultTenant, NpgsqlDbType.Varchar, ct);
                        await copy.WriteAsync(false, NpgsqlDbType.Boolean, ct);
                        await WriteNullable(copy, metadata[i].CorrelationId, ct);
                        await WriteNullable(copy, metadata[i].CausationId, ct);
                        await WriteNullable(copy, metadata[i].Actor, ct);
                        await copy.WriteAsync(Headers(id, i + 1, events[i], metadata[i]), NpgsqlDbType.Jsonb, ct);
                        written++;
                    }
                await copy.CompleteAsync(ct);
            }
            await tx.CommitAsync(ct);
        }
        return written;
    }

    private static async Task WriteNullable(NpgsqlBinaryImporter copy, string? value, CancellationToken ct)
    {
        if (value is null) await copy.WriteNullAsync(ct);
        else await copy.WriteAsync(value, NpgsqlDbType.Varchar, ct);
    }

    /// <summary>A stream, oldest first, optionally cut at a version or a moment (inclusive).</summary>
    public async Task<IReadOnlyList<StoredEvent<TEvent>>> ReadStreamAsync(
        string streamId, long? toVersion = null, DateTimeOffset? toTime = null, CancellationToken ct = default)
    {
        await using var cmd = dataSource.CreateCommand($"""
            select {Columns} from {From}
            where stream_id = $1 and version <= $2 and occurred_at <= $3
            order by version
            """);
        cmd.Parameters.Add(new NpgsqlParameter<string> { TypedValue = streamId });
        cmd.Parameters.Add(new NpgsqlParameter<long> { TypedValue = toVersion ?? long.MaxValue });
        cmd.Parameters.Add(new NpgsqlParameter<DateTime> { TypedValue = (toTime ?? DateTimeOffset.MaxValue).UtcDateTime, NpgsqlDbType = NpgsqlDbType.TimestampTz });
        return await ReadEvents(cmd, ct);
    }

    /// <summary>
    /// A stream's events as data, oldest first, cut at a version or a moment (inclusive): Marten's own stream read
    /// (<c>FetchStreamAsync</c>), for folding a stream as of a point. Hashes and stored text come from
    /// <see cref="ReadStreamAsync"/>.
    /// </summary>
    public async Task<IReadOnlyList<TEvent>> FetchStreamAsync(
        string streamId, long? toVersion = null, DateTimeOffset? toTime = null, CancellationToken ct = default)
    {
        await using var session = marten.QuerySession();
        var events = await session.Events.FetchStreamAsync(streamId, toVersion ?? 0, toTime, token: ct);
        return events.Select(e => e.Data).OfType<TEvent>().ToList();
    }

    /// <summary>Several streams in one read: each stream oldest first, streams in id order.</summary>
    public async Task<IReadOnlyList<StoredEvent<TEvent>>> ReadStreamsAsync(IReadOnlyCollection<string> streamIds, CancellationToken ct = default)
    {
        await using var cmd = dataSource.CreateCommand($"select {Columns} from {From} where stream_id = any($1) order by stream_id, version");
        cmd.Parameters.Add(new NpgsqlParameter<string[]> { TypedValue = [.. streamIds] });
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
            $"select transaction_id from {MartenEventLog.Schema}.event_chain where seq_id <= $1 order by seq_id desc limit 1");
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
            select {Columns} from {From}
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
            select {Columns} from {From} {(horizon is null ? "" : "where transaction_id < $1")} order by stream_id, version
            """, connection ?? own);
        if (horizon is not null)
            cmd.Parameters.Add(new NpgsqlParameter<ulong> { TypedValue = horizon.Value, NpgsqlDbType = NpgsqlDbType.Xid8 });
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct)) yield return ReadEvent(reader);
    }

    /// <summary>The events of transactions below <paramref name="horizon"/>: the size of what <see cref="StreamAllBelowAsync"/> yields.</summary>
    public async Task<long> CountBelowAsync(ulong horizon, CancellationToken ct = default)
    {
        await using var cmd = dataSource.CreateCommand($"select count(*) from {MartenEventLog.Schema}.event_chain where transaction_id < $1");
        cmd.Parameters.Add(new NpgsqlParameter<ulong> { TypedValue = horizon, NpgsqlDbType = NpgsqlDbType.Xid8 });
        return (long)(await cmd.ExecuteScalarAsync(ct))!;
    }

    // What the view ledger.events of Sql/001_event_chain.sql shows, chained events only (Marten's tombstones have no
    // chain row), but with the metadata as Marten's columns: the view builds it as jsonb per row, which cost a full
    // read of the log (an audit, a rebuild) more than half of the database's time. HashChain.MetadataJson writes the
    // same object, in canonical form.
    private const string From = $"""
        (select c.seq_id as sequence, e.stream_id, e.version, e.type, e.data, e.correlation_id, e.causation_id, e.user_name,
                e.headers ->> '{MartenEventLog.IdempotencyKeyHeader}' as idempotency_key, e."timestamp" as occurred_at,
                c.transaction_id, c.hash, c.previous_hash
         from {MartenEventLog.Schema}.mt_events e join {MartenEventLog.Schema}.event_chain c on c.seq_id = e.seq_id) events
        """;

    private const string Columns =
        "sequence, stream_id, version, type, data::text, correlation_id, causation_id, user_name, idempotency_key, occurred_at, transaction_id, hash, previous_hash";

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
        string? Text(int i) => reader.IsDBNull(i) ? null : reader.GetString(i);
        var metadata = new EventMetadata(CorrelationId: Text(5), CausationId: Text(6), IdempotencyKey: Text(8), Actor: Text(7));
        return new StoredEvent<TEvent>(
            Sequence: reader.GetInt64(0),
            StreamId: reader.GetString(1),
            Version: reader.GetInt64(2),
            Type: type,
            Data: codec.Deserialize(type, dataJson),
            DataJson: dataJson,
            Metadata: metadata,
            MetadataJson: HashChain.MetadataJson(metadata),
            OccurredAt: reader.GetFieldValue<DateTimeOffset>(9),
            TransactionId: reader.GetFieldValue<ulong>(10),
            Hash: reader.GetFieldValue<byte[]>(11),
            PreviousHash: reader.IsDBNull(12) ? null : reader.GetFieldValue<byte[]>(12));
    }
}
