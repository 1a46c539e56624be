using Npgsql;

namespace Ledger.EventStore.Audit;

/// <summary>
/// `audit verify --checkpoints FILE --public-key FILE`: checks the log as it is now against checkpoints signed
/// outside the database. Trusts nothing the database says about hashes: every event's chain hash is recomputed from
/// its content (<see cref="Observe{TEvent}"/>, fed stream by stream in version order), every leaf from that, and the
/// tree's root at each checkpoint's size compared with the signed one. The digest's stored leaves only help to name
/// the exact position: where they are intact, the first event that differs from what was digested is named; where a
/// superuser rewrote them too, the root check still fails and names the range since the last checkpoint that holds.
/// </summary>
public sealed class CheckpointVerifier(IReadOnlyList<(int Line, Checkpoint? Checkpoint)> lines, CheckpointKeys publicKeys)
{
    private const int MaxFindings = 20;
    private readonly Dictionary<long, (byte[] Hash, string Stream, long Version)> _recomputed = [];
    private string? _stream;
    private byte[]? _previous;

    public int Checkpoints => lines.Count(l => l.Checkpoint is not null);

    /// <summary>
    /// An event of the log as stored, streams one after another, each in version order, with its content hash
    /// recomputed from what is stored (<see cref="HashChain.ContentHash{TEvent}(StoredEvent{TEvent})"/>).
    /// </summary>
    public void Observe<TEvent>(StoredEvent<TEvent> e, byte[] contentHash)
    {
        if (e.StreamId != _stream) (_stream, _previous) = (e.StreamId, null);
        _previous = HashChain.Link(_previous, contentHash);
        _recomputed[e.Sequence] = (_previous, e.StreamId, e.Version);
    }

    public async Task<List<string>> CheckAsync(NpgsqlConnection connection, NpgsqlTransaction tx, CancellationToken ct)
    {
        var problems = new List<string>();
        var signed = new List<(int Line, Checkpoint Checkpoint)>();
        foreach (var (line, checkpoint) in lines)
        {
            if (checkpoint is null) problems.Add($"checkpoints line {line}: not a checkpoint");
            else if (!publicKeys.Verifies(checkpoint))
                problems.Add(publicKeys.Knows(checkpoint.KeyId)
                    ? $"checkpoints line {line} (eventCount {checkpoint.EventCount}): the signature does not verify; the checkpoint was forged or edited"
                    : $"checkpoints line {line} (eventCount {checkpoint.EventCount}): signed by key {checkpoint.KeyId}, not by the public key given ({string.Join(", ", publicKeys.KeyIds)})");
            else signed.Add((line, checkpoint));
        }
        signed.Sort((a, b) => a.Checkpoint.EventCount.CompareTo(b.Checkpoint.EventCount));
        if (signed.Count == 0) return problems;

        var covered = signed[^1].Checkpoint.EventCount;
        var frontier = new MerkleFrontier();
        var firstDifference = (long?)null;
        var findings = 0;
        void Differs(long position, string text)
        {
            firstDifference ??= position;
            if (findings++ < MaxFindings) problems.Add(text);
        }

        var next = 0;
        var lastGood = 0L;
        (long Seq, ulong Tx)? lastDigested = null;
        void CheckRoots()
        {
            while (next < signed.Count && signed[next].Checkpoint.EventCount == frontier.Size)
            {
                var (line, checkpoint) = signed[next++];
                var root = Convert.ToHexStringLower(frontier.Root());
                if (root == checkpoint.Root) lastGood = checkpoint.EventCount;
                else
                {
                    problems.Add($"checkpoints line {line} (eventCount {checkpoint.EventCount}, at {HashChain.Time(checkpoint.At)}): the log's root is {root}, "
                        + $"the signed one {checkpoint.Root}: an event at a position from {lastGood} to {checkpoint.EventCount - 1} was edited, removed, reordered or re-hashed");
                    firstDifference ??= lastGood;
                }
            }
        }

        await using (var cmd = new NpgsqlCommand(
            "select position, seq_id, transaction_id, leaf from ledger.log_digest where position < $1 order by position", connection, tx))
        {
            cmd.Parameters.Add(new NpgsqlParameter<long> { TypedValue = covered });
            await using var reader = await cmd.ExecuteReaderAsync(ct);
            while (await reader.ReadAsync(ct))
            {
                var (position, seq, stored) = (reader.GetInt64(0), reader.GetInt64(1), reader.GetFieldValue<byte[]>(3));
                lastDigested = (seq, reader.GetFieldValue<ulong>(2));
                if (position != frontier.Size)
                {
                    Differs(frontier.Size, $"position {frontier.Size}: the digest has no leaf here (its next is position {position}); digest rows were removed");
                    break;
                }
                if (!_recomputed.TryGetValue(seq, out var now))
                {
                    Differs(position, $"position {position} (sequence {seq}): the event digested here is no longer in the log; it was removed");
                    frontier.Append(new byte[Merkle.HashSize]); // nothing the log holds: the root cannot match
                }
                else
                {
                    var leaf = Merkle.Leaf(seq, now.Hash);
                    if (!leaf.AsSpan().SequenceEqual(stored))
                        Differs(position, $"position {position} (sequence {seq}, stream {now.Stream} version {now.Version}): the event differs from the one digested (edited, moved or re-hashed)");
                    frontier.Append(leaf);
                }
                CheckRoots();
            }
        }
        for (; next < signed.Count; next++)
        {
            var (line, checkpoint) = signed[next];
            problems.Add($"checkpoints line {line} (eventCount {checkpoint.EventCount}): the log's digest holds only {frontier.Size} events; "
                + $"positions {frontier.Size} to {checkpoint.EventCount - 1} are gone (the log's tail was cut)");
            firstDifference ??= frontier.Size;
        }

        // An event inside what the checkpoints cover that the digest never saw was put there afterwards.
        if (lastDigested is { } last)
        {
            await using var cmd = new NpgsqlCommand("""
                select c.seq_id from ledger.event_chain c
                where (c.transaction_id, c.seq_id) <= ($1::xid8, $2)
                  and not exists (select 1 from ledger.log_digest d where d.seq_id = c.seq_id)
                order by c.transaction_id, c.seq_id limit 20
                """, connection, tx);
            cmd.Parameters.Add(new NpgsqlParameter<ulong> { TypedValue = last.Tx, NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Xid8 });
            cmd.Parameters.Add(new NpgsqlParameter<long> { TypedValue = last.Seq });
            await using var reader = await cmd.ExecuteReaderAsync(ct);
            while (await reader.ReadAsync(ct))
            {
                var seq = reader.GetInt64(0);
                var where = _recomputed.TryGetValue(seq, out var e) ? $", stream {e.Stream} version {e.Version}" : "";
                problems.Add($"sequence {seq}{where}: in the log among events a checkpoint covers, but never digested; it was inserted afterwards");
            }
        }

        if (firstDifference is { } first)
            problems.Insert(0, $"checkpoints: the log differs from what was signed, first at position {first}");
        return problems;
    }
}
