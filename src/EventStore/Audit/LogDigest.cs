using Npgsql;
using NpgsqlTypes;

namespace Ledger.EventStore.Audit;

public sealed record DigestState(long Size, long LastSequence, byte[] Root);

/// <summary>
/// The log's digest (Sql/003_log_digest.sql): takes the events committed since the last run, in the global log's
/// commit-safe order, as leaves of the Merkle tree, and signs a checkpoint of the new root. Runs after the fact,
/// beside the appends, never in their way: it reads the chain rows the trigger wrote and takes a lock only on its
/// own head row.
/// </summary>
public sealed class LogDigest(NpgsqlDataSource db)
{
    private const int Page = 10_000;

    /// <summary>
    /// Digests what is new and, when the tree grew and a key is given, signs a checkpoint of it: appended to
    /// <paramref name="checkpointFile"/> (flushed to disk) and then recorded in the database, in the digest's
    /// transaction. If that transaction fails after the file was written, the next run digests the same events in
    /// the same order and the checkpoint in the file stays true.
    /// </summary>
    public async Task<(DigestState State, Checkpoint? Checkpoint)> RunAsync(
        CheckpointKey? key, string? checkpointFile, TimeProvider clock, CancellationToken ct)
    {
        await using var connection = await db.OpenConnectionAsync(ct);
        await using var tx = await connection.BeginTransactionAsync(ct);
        long size, lastSeq;
        ulong lastTx;
        MerkleFrontier frontier;
        await using (var head = new NpgsqlCommand(
            "select size, last_tx, last_seq, frontier from ledger.log_digest_head where id = 1 for update", connection, tx))
        await using (var reader = await head.ExecuteReaderAsync(ct))
        {
            if (!await reader.ReadAsync(ct)) throw new InvalidOperationException("ledger.log_digest_head has no row: run `db migrate`.");
            (size, lastTx, lastSeq) = (reader.GetInt64(0), reader.GetFieldValue<ulong>(1), reader.GetInt64(2));
            frontier = MerkleFrontier.Restore(size, reader.GetFieldValue<byte[][]>(3));
        }

        while (true)
        {
            var page = new List<(long Seq, ulong Tx, byte[] Leaf)>(Page);
            // Below the oldest transaction in flight, every event is committed or never will be: a later commit
            // never lands before a digested leaf, so leaf positions never move.
            await using (var read = new NpgsqlCommand("""
                select seq_id, transaction_id, hash from ledger.event_chain
                where (transaction_id, seq_id) > ($1::xid8, $2) and transaction_id < pg_snapshot_xmin(pg_current_snapshot())
                order by transaction_id, seq_id
                limit $3
                """, connection, tx))
            {
                read.Parameters.Add(new NpgsqlParameter<ulong> { TypedValue = lastTx, NpgsqlDbType = NpgsqlDbType.Xid8 });
                read.Parameters.Add(new NpgsqlParameter<long> { TypedValue = lastSeq });
                read.Parameters.Add(new NpgsqlParameter<int> { TypedValue = Page });
                await using var reader = await read.ExecuteReaderAsync(ct);
                while (await reader.ReadAsync(ct))
                {
                    var seq = reader.GetInt64(0);
                    page.Add((seq, reader.GetFieldValue<ulong>(1), Merkle.Leaf(seq, reader.GetFieldValue<byte[]>(2))));
                }
            }
            if (page.Count == 0) break;
            var nodes = new List<(int Level, long Index, byte[] Hash)>(page.Count);
            await using (var copy = await connection.BeginBinaryImportAsync(
                "copy ledger.log_digest (position, seq_id, transaction_id, leaf) from stdin (format binary)", ct))
            {
                foreach (var (seq, txid, leaf) in page)
                {
                    await copy.StartRowAsync(ct);
                    await copy.WriteAsync(frontier.Size, NpgsqlDbType.Bigint, ct);
                    await copy.WriteAsync(seq, NpgsqlDbType.Bigint, ct);
                    await copy.WriteAsync(txid, NpgsqlDbType.Xid8, ct);
                    await copy.WriteAsync(leaf, NpgsqlDbType.Bytea, ct);
                    frontier.Append(leaf, (level, index, hash) => nodes.Add((level, index, hash)));
                }
                await copy.CompleteAsync(ct);
            }
            await using (var copy = await connection.BeginBinaryImportAsync(
                "copy ledger.log_digest_nodes (level, index, hash) from stdin (format binary)", ct))
            {
                foreach (var (level, index, hash) in nodes)
                {
                    await copy.StartRowAsync(ct);
                    await copy.WriteAsync((short)level, NpgsqlDbType.Smallint, ct);
                    await copy.WriteAsync(index, NpgsqlDbType.Bigint, ct);
                    await copy.WriteAsync(hash, NpgsqlDbType.Bytea, ct);
                }
                await copy.CompleteAsync(ct);
            }
            (lastSeq, lastTx) = (page[^1].Seq, page[^1].Tx);
            if (page.Count < Page) break;
        }

        await using (var update = new NpgsqlCommand(
            "update ledger.log_digest_head set size = $1, last_tx = $2, last_seq = $3, frontier = $4 where id = 1", connection, tx))
        {
            update.Parameters.Add(new NpgsqlParameter<long> { TypedValue = frontier.Size });
            update.Parameters.Add(new NpgsqlParameter<ulong> { TypedValue = lastTx, NpgsqlDbType = NpgsqlDbType.Xid8 });
            update.Parameters.Add(new NpgsqlParameter<long> { TypedValue = lastSeq });
            update.Parameters.Add(new NpgsqlParameter<byte[][]> { TypedValue = frontier.Hashes, NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Bytea });
            await update.ExecuteNonQueryAsync(ct);
        }
        var state = new DigestState(frontier.Size, lastSeq, frontier.Root());

        Checkpoint? checkpoint = null;
        if (key is not null && state.Size > 0 && state.Size > await LastCheckpointedAsync(connection, tx, ct))
        {
            checkpoint = key.Sign(state.LastSequence, state.Size, state.Root, clock.GetUtcNow());
            if (checkpointFile is not null) CheckpointFile.Append(checkpointFile, checkpoint);
            await using var insert = new NpgsqlCommand("""
                insert into ledger.audit_checkpoints (event_count, position, root, at, key_id, signature)
                values ($1, $2, $3, $4, $5, $6) on conflict (event_count) do nothing
                """, connection, tx);
            insert.Parameters.Add(new NpgsqlParameter<long> { TypedValue = checkpoint.EventCount });
            insert.Parameters.Add(new NpgsqlParameter<long> { TypedValue = checkpoint.Position });
            insert.Parameters.Add(new NpgsqlParameter<byte[]> { TypedValue = state.Root });
            insert.Parameters.Add(new NpgsqlParameter<DateTime> { TypedValue = checkpoint.At.UtcDateTime, NpgsqlDbType = NpgsqlDbType.TimestampTz });
            insert.Parameters.Add(new NpgsqlParameter<string> { TypedValue = checkpoint.KeyId });
            insert.Parameters.Add(new NpgsqlParameter<byte[]> { TypedValue = Convert.FromBase64String(checkpoint.Signature) });
            await insert.ExecuteNonQueryAsync(ct);
        }
        await tx.CommitAsync(ct);
        return (state, checkpoint);
    }

    /// <summary>
    /// Inclusion proofs for the leaves at <paramref name="positions"/> in the tree of the first <paramref name="size"/>
    /// leaves, from the stored perfect subtrees in one query: for each, its audit path, deepest sibling first.
    /// </summary>
    public async Task<Dictionary<long, List<byte[]>>> ProofsAsync(IReadOnlyCollection<long> positions, long size, CancellationToken ct)
    {
        var plans = positions.ToDictionary(p => p, p => Merkle.InclusionRanges(p, size).Select(r => Merkle.Chunks(r.From, r.To)).ToList());
        var wanted = plans.Values.SelectMany(path => path.SelectMany(chunks => chunks)).Distinct().ToList();
        var hashes = new Dictionary<(int, long), byte[]>();
        await using (var cmd = db.CreateCommand("""
            select w.level, w.index, coalesce(n.hash, d.leaf)
            from unnest($1::smallint[], $2::bigint[]) as w(level, index)
            left join ledger.log_digest_nodes n on w.level > 0 and n.level = w.level and n.index = w.index
            left join ledger.log_digest d on w.level = 0 and d.position = w.index
            """))
        {
            cmd.Parameters.Add(new NpgsqlParameter<short[]> { TypedValue = [.. wanted.Select(w => (short)w.Level)] });
            cmd.Parameters.Add(new NpgsqlParameter<long[]> { TypedValue = [.. wanted.Select(w => w.Index)] });
            await using var reader = await cmd.ExecuteReaderAsync(ct);
            while (await reader.ReadAsync(ct))
                if (!reader.IsDBNull(2)) hashes[(reader.GetInt16(0), reader.GetInt64(1))] = reader.GetFieldValue<byte[]>(2);
        }
        return plans.ToDictionary(p => p.Key, p => p.Value.Select(chunks => Merkle.FoldChunks(chunks.Select(c =>
            hashes.TryGetValue(c, out var h) ? h : throw new InvalidDataException($"The digest has no subtree {c.Level}/{c.Index}: it was removed.")).ToList())).ToList());
    }

    /// <summary>The signed checkpoints the database recorded, by size: those after <paramref name="afterEventCount"/>.</summary>
    public async Task<(IReadOnlyList<Checkpoint> Checkpoints, bool HasMore)> CheckpointsAsync(long afterEventCount, int limit, CancellationToken ct)
    {
        await using var cmd = db.CreateCommand(
            "select position, event_count, root, at, key_id, signature from ledger.audit_checkpoints where event_count > $1 order by event_count limit $2");
        cmd.Parameters.Add(new NpgsqlParameter<long> { TypedValue = afterEventCount });
        cmd.Parameters.Add(new NpgsqlParameter<int> { TypedValue = limit + 1 });
        var found = await ReadCheckpoints(cmd, ct);
        return (found.Take(limit).ToList(), found.Count > limit);
    }

    /// <summary>The latest checkpoint, or the one of exactly <paramref name="eventCount"/> events; null if there is none.</summary>
    public async Task<Checkpoint?> CheckpointAsync(long? eventCount, CancellationToken ct)
    {
        await using var cmd = db.CreateCommand(eventCount is null
            ? "select position, event_count, root, at, key_id, signature from ledger.audit_checkpoints order by event_count desc limit 1"
            : "select position, event_count, root, at, key_id, signature from ledger.audit_checkpoints where event_count = $1");
        if (eventCount is { } count) cmd.Parameters.Add(new NpgsqlParameter<long> { TypedValue = count });
        return (await ReadCheckpoints(cmd, ct)).FirstOrDefault();
    }

    /// <summary>Where the digest put these events (by global sequence); an event not digested yet is absent.</summary>
    public async Task<Dictionary<long, long>> PositionsAsync(IReadOnlyCollection<long> sequences, CancellationToken ct)
    {
        await using var cmd = db.CreateCommand("select seq_id, position from ledger.log_digest where seq_id = any($1)");
        cmd.Parameters.Add(new NpgsqlParameter<long[]> { TypedValue = [.. sequences] });
        var positions = new Dictionary<long, long>();
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct)) positions[reader.GetInt64(0)] = reader.GetInt64(1);
        return positions;
    }

    private static async Task<List<Checkpoint>> ReadCheckpoints(NpgsqlCommand cmd, CancellationToken ct)
    {
        var found = new List<Checkpoint>();
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct))
            found.Add(new Checkpoint(reader.GetInt64(0), reader.GetInt64(1), Convert.ToHexStringLower(reader.GetFieldValue<byte[]>(2)),
                new DateTimeOffset(reader.GetFieldValue<DateTime>(3), TimeSpan.Zero), reader.GetString(4),
                Convert.ToBase64String(reader.GetFieldValue<byte[]>(5))));
        return found;
    }

    private static async Task<long> LastCheckpointedAsync(NpgsqlConnection connection, NpgsqlTransaction tx, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand("select coalesce(max(event_count), 0) from ledger.audit_checkpoints", connection, tx);
        return (long)(await cmd.ExecuteScalarAsync(ct))!;
    }
}
