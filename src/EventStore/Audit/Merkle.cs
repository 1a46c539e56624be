using System.Buffers.Binary;
using System.Numerics;
using System.Security.Cryptography;

namespace Ledger.EventStore.Audit;

/// <summary>
/// The Merkle tree of RFC 6962 (Certificate Transparency) over the log's leaves, in digest order (docs/events.md):
/// a leaf's hash is SHA-256(0x00 || leaf), an inner node's SHA-256(0x01 || left || right), and the tree of n leaves
/// splits at the largest power of two below n. A leaf is an event's global sequence (8 bytes, big-endian) followed
/// by its chain hash, so it binds the event's place in the log, its stream, version, type, time, data, metadata and
/// everything before it in its stream.
/// </summary>
public static class Merkle
{
    public const int HashSize = 32;

    /// <summary>The root of the empty tree: SHA-256 of nothing.</summary>
    public static byte[] EmptyRoot { get; } = SHA256.HashData([]);

    public static byte[] Leaf(long sequence, ReadOnlySpan<byte> eventHash)
    {
        Span<byte> data = stackalloc byte[1 + 8 + HashSize];
        data[0] = 0x00;
        BinaryPrimitives.WriteInt64BigEndian(data[1..], sequence);
        eventHash.CopyTo(data[9..]);
        return SHA256.HashData(data[..(9 + eventHash.Length)]);
    }

    /// <summary>A leaf over arbitrary bytes (RFC 6962's own test vectors use these).</summary>
    public static byte[] LeafOf(ReadOnlySpan<byte> data) => SHA256.HashData([0x00, .. data]);

    public static byte[] Node(ReadOnlySpan<byte> left, ReadOnlySpan<byte> right)
    {
        Span<byte> data = stackalloc byte[1 + 2 * HashSize];
        data[0] = 0x01;
        left.CopyTo(data[1..]);
        right.CopyTo(data[(1 + HashSize)..]);
        return SHA256.HashData(data);
    }

    /// <summary>The root of leaves[from..to) by the definition: what the frontier and the proofs are checked against.</summary>
    public static byte[] Root(IReadOnlyList<byte[]> leaves, int from, int to)
    {
        var n = to - from;
        if (n == 0) return EmptyRoot;
        if (n == 1) return leaves[from];
        var k = SplitPoint(n);
        return Node(Root(leaves, from, from + k), Root(leaves, from + k, to));
    }

    /// <summary>The largest power of two smaller than n (n >= 2).</summary>
    public static int SplitPoint(long n)
    {
        var k = 1L;
        while (k * 2 < n) k *= 2;
        return (int)k;
    }

    /// <summary>
    /// An inclusion proof (RFC 6962 section 2.1.1, the audit path) for the leaf at <paramref name="index"/> in the
    /// tree of the first <paramref name="size"/> leaves: the sibling hashes from the leaf up.
    /// </summary>
    public static List<byte[]> InclusionProof(IReadOnlyList<byte[]> leaves, long index, long size)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(index, size);
        var path = new List<byte[]>();
        Path((int)index, 0, (int)size); // deepest sibling first: the order RFC 6962's PATH gives and the check reads
        return path;

        void Path(int m, int from, int to)
        {
            var n = to - from;
            if (n <= 1) return;
            var k = SplitPoint(n);
            if (m < k)
            {
                Path(m, from, from + k);
                path.Add(Root(leaves, from + k, to));
            }
            else
            {
                Path(m - k, from + k, to);
                path.Add(Root(leaves, from, from + k));
            }
        }
    }

    /// <summary>
    /// The same audit path as <see cref="InclusionProof"/>, planned for a store of perfect subtrees: each sibling is the
    /// range of leaves it covers, deepest first. Every range is a perfect aligned subtree, or the right edge of the
    /// tree, which <see cref="Chunks"/> splits into perfect ones.
    /// </summary>
    public static List<(long From, long To)> InclusionRanges(long index, long size)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(index);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(index, size);
        var ranges = new List<(long, long)>();
        long from = 0, to = size, m = index;
        var upper = new List<(long, long)>();
        while (to - from > 1)
        {
            long k = SplitPoint(to - from);
            if (m < k)
            {
                upper.Add((from + k, to));
                to = from + k;
            }
            else
            {
                upper.Add((from, from + k));
                (from, m) = (from + k, m - k);
            }
        }
        for (var i = upper.Count - 1; i >= 0; i--) ranges.Add(upper[i]);
        return ranges;
    }

    /// <summary>A range of leaves as the perfect aligned subtrees it is made of, largest first: (level, index) each.</summary>
    public static List<(int Level, long Index)> Chunks(long from, long to)
    {
        var chunks = new List<(int, long)>();
        while (from < to)
        {
            var n = to - from;
            var size = n == 1 ? 1 : (BitOperations.IsPow2((ulong)n) ? n : SplitPoint(n));
            var level = BitOperations.Log2((ulong)size);
            if (from % size != 0) throw new ArgumentException($"[{from}, {to}) is not a range of this tree.");
            chunks.Add((level, from / size));
            from += size;
        }
        return chunks;
    }

    /// <summary>The root of a range from its perfect subtrees' roots, in <see cref="Chunks"/> order: folded from the right.</summary>
    public static byte[] FoldChunks(IReadOnlyList<byte[]> roots)
    {
        var root = roots[^1];
        for (var i = roots.Count - 2; i >= 0; i--) root = Node(roots[i], root);
        return root;
    }

    /// <summary>
    /// Checks an inclusion proof: the root the leaf hash and the path give for that index and tree size (the
    /// algorithm of RFC 9162 section 2.1.3.2, which docs/events.md spells out for re-implementers).
    /// </summary>
    public static byte[]? RootFromInclusionProof(ReadOnlySpan<byte> leafHash, long index, long size, IReadOnlyList<byte[]> path)
    {
        if (index < 0 || index >= size) return null;
        long fn = index, sn = size - 1;
        var r = leafHash.ToArray();
        foreach (var p in path)
        {
            if (sn == 0) return null;
            if ((fn & 1) == 1 || fn == sn)
            {
                r = Node(p, r);
                if ((fn & 1) == 0)
                    while ((fn & 1) == 0 && fn != 0) { fn >>= 1; sn >>= 1; }
            }
            else r = Node(r, p);
            fn >>= 1;
            sn >>= 1;
        }
        return sn == 0 ? r : null;
    }
}

/// <summary>
/// The right edge of a growing Merkle tree: the roots of its perfect subtrees, largest first (one per set bit of
/// the size). Appending a leaf merges equal-sized subtrees; the root folds them from the right. O(log n) memory,
/// so the digest never re-reads old leaves.
/// </summary>
public sealed class MerkleFrontier
{
    private readonly List<(long Size, byte[] Hash)> _subtrees = [];

    public long Size { get; private set; }

    /// <param name="completed">Told of each perfect subtree above the leaves this leaf completes: its level (log2 of
    /// its size), its index among the subtrees of that level, and its root. The digest stores them for the proofs.</param>
    public void Append(byte[] leafHash, Action<int, long, byte[]>? completed = null)
    {
        _subtrees.Add((1, leafHash));
        Size++;
        while (_subtrees.Count >= 2 && _subtrees[^1].Size == _subtrees[^2].Size)
        {
            var (size, right) = _subtrees[^1];
            var left = _subtrees[^2].Hash;
            _subtrees.RemoveRange(_subtrees.Count - 2, 2);
            var node = Merkle.Node(left, right);
            _subtrees.Add((size * 2, node));
            completed?.Invoke(BitOperations.Log2((ulong)size * 2), (Size - size * 2) / (size * 2), node);
        }
    }

    public byte[] Root()
    {
        if (_subtrees.Count == 0) return Merkle.EmptyRoot;
        var root = _subtrees[^1].Hash;
        for (var i = _subtrees.Count - 2; i >= 0; i--) root = Merkle.Node(_subtrees[i].Hash, root);
        return root;
    }

    /// <summary>The subtree roots, largest first, for storing beside the leaves.</summary>
    public byte[][] Hashes => _subtrees.Select(s => s.Hash).ToArray();

    /// <summary>A frontier from its stored form: the tree's size and its subtree roots, largest first.</summary>
    public static MerkleFrontier Restore(long size, IReadOnlyList<byte[]> hashes)
    {
        var frontier = new MerkleFrontier { Size = size };
        var bits = Enumerable.Range(0, 63).Reverse().Where(b => (size & (1L << b)) != 0).Select(b => 1L << b).ToList();
        if (bits.Count != hashes.Count) throw new InvalidDataException($"A frontier of {size} leaves has {bits.Count} subtrees, not {hashes.Count}.");
        for (var i = 0; i < bits.Count; i++) frontier._subtrees.Add((bits[i], hashes[i]));
        return frontier;
    }
}
