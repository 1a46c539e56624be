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
                    frontier.Append(leaf);
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

    private static async Task<long> LastCheckpointedAsync(NpgsqlConnection connection, NpgsqlTransaction tx, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand("select coalesce(max(event_count), 0) from ledger.audit_checkpoints", connection, tx);
        return (long)(await cmd.ExecuteScalarAsync(ct))!;
    }
}
