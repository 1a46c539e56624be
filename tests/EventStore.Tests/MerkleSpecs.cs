using Ledger.EventStore.Audit;
using Shouldly;
using Xunit;

namespace Ledger.EventStore.Tests;

/// <summary>
/// The log's Merkle tree is RFC 6962's: the roots below are Certificate Transparency's published test vectors (also
/// printed by a ten-line Python definition of the tree), so another implementation of docs/events.md agrees with ours.
/// </summary>
public sealed class MerkleSpecs
{
    private static readonly byte[][] VectorLeaves =
        [.. new[] { "", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f" }
            .Select(hex => Merkle.LeafOf(Convert.FromHexString(hex)))];

    [Theory]
    [InlineData(1, "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d")]
    [InlineData(2, "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125")]
    [InlineData(3, "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77")]
    [InlineData(5, "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4")]
    [InlineData(7, "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c")]
    [InlineData(8, "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328")]
    public void The_root_of_the_first_n_test_vector_leaves_is_rfc_6962s(int n, string root)
    {
        Convert.ToHexStringLower(Merkle.Root(VectorLeaves, 0, n)).ShouldBe(root);
        var frontier = new MerkleFrontier();
        foreach (var leaf in VectorLeaves.Take(n)) frontier.Append(leaf);
        Convert.ToHexStringLower(frontier.Root()).ShouldBe(root);
    }

    [Fact]
    public void The_empty_tree_has_the_hash_of_nothing()
    {
        Convert.ToHexStringLower(new MerkleFrontier().Root()).ShouldBe("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    }

    [Fact]
    public void The_frontier_grows_to_the_same_root_as_the_definition_and_survives_being_stored()
    {
        var leaves = Enumerable.Range(0, 70).Select(i => Merkle.Leaf(1000 + i, System.Security.Cryptography.SHA256.HashData([(byte)i]))).ToList();
        var frontier = new MerkleFrontier();
        for (var n = 1; n <= leaves.Count; n++)
        {
            frontier.Append(leaves[n - 1]);
            frontier.Root().ShouldBe(Merkle.Root(leaves, 0, n), $"size {n}");
            var restored = MerkleFrontier.Restore(frontier.Size, frontier.Hashes);
            restored.Root().ShouldBe(frontier.Root(), $"restored at size {n}");
        }
    }

    [Fact]
    public void Every_leaf_of_every_tree_size_has_an_inclusion_proof_that_checks_and_an_altered_one_does_not()
    {
        var leaves = Enumerable.Range(0, 33).Select(i => Merkle.Leaf(i + 1, System.Security.Cryptography.SHA256.HashData([(byte)i]))).ToList();
        for (var size = 1; size <= leaves.Count; size++)
        {
            var root = Merkle.Root(leaves, 0, size);
            for (var index = 0; index < size; index++)
            {
                var proof = Merkle.InclusionProof(leaves, index, size);
                proof.Count.ShouldBeLessThanOrEqualTo((int)Math.Ceiling(Math.Log2(size)));
                Merkle.RootFromInclusionProof(leaves[index], index, size, proof).ShouldBe(root, $"leaf {index} of {size}");

                var otherLeaf = leaves[(index + 1) % leaves.Count];
                Merkle.RootFromInclusionProof(otherLeaf, index, size, proof).ShouldNotBe(root);
                if (size > 1) Merkle.RootFromInclusionProof(leaves[index], (index + 1) % size, size, proof).ShouldNotBe(root);
                if (proof.Count > 0)
                {
                    var altered = proof.Select(p => (byte[])p.Clone()).ToList();
                    altered[^1][0] ^= 1;
                    Merkle.RootFromInclusionProof(leaves[index], index, size, altered).ShouldNotBe(root);
                }
            }
        }
    }

    [Fact]
    public void A_leaf_binds_the_events_sequence_and_its_hash()
    {
        var hash = System.Security.Cryptography.SHA256.HashData("event"u8);
        Merkle.Leaf(7, hash).ShouldBe(Merkle.LeafOf([0, 0, 0, 0, 0, 0, 0, 7, .. hash]));
        Merkle.Leaf(8, hash).ShouldNotBe(Merkle.Leaf(7, hash));
    }

    [Fact]
    public void A_checkpoint_verifies_with_its_key_and_not_once_any_field_or_the_key_differs()
    {
        using var key = CheckpointKey.Generate();
        using var other = CheckpointKey.Generate();
        var checkpoint = key.Sign(position: 42, eventCount: 40, root: new byte[32], at: DateTimeOffset.Parse("2026-12-03T10:00:00.1234567Z"));

        checkpoint.At.ShouldBe(DateTimeOffset.Parse("2026-12-03T10:00:00.123456Z"));
        key.Verifies(checkpoint).ShouldBeTrue();
        key.Verifies(Checkpoint.Parse(checkpoint.ToJson())!).ShouldBeTrue();
        key.Verifies(checkpoint with { EventCount = 41 }).ShouldBeFalse();
        key.Verifies(checkpoint with { Position = 43 }).ShouldBeFalse();
        key.Verifies(checkpoint with { Root = new string('1', 64) }).ShouldBeFalse();
        key.Verifies(checkpoint with { At = checkpoint.At.AddTicks(10) }).ShouldBeFalse();
        other.Verifies(checkpoint).ShouldBeFalse();
        other.Verifies(checkpoint with { KeyId = other.KeyId }).ShouldBeFalse();
        Checkpoint.Parse("{\"position\": 1}").ShouldBeNull();
    }
}

public sealed class StoredSubtreeProofSpecs
{
    [Fact]
    public void A_proof_planned_from_stored_perfect_subtrees_is_the_proof_from_the_leaves()
    {
        var leaves = Enumerable.Range(0, 45).Select(i => Merkle.Leaf(i + 1, System.Security.Cryptography.SHA256.HashData([(byte)i]))).ToList();
        var stored = new Dictionary<(int, long), byte[]>();
        var frontier = new MerkleFrontier();
        for (var i = 0; i < leaves.Count; i++)
        {
            stored[(0, i)] = leaves[i];
            frontier.Append(leaves[i], (level, index, hash) => stored.Add((level, index), hash));
        }
        stored.Keys.Count(k => k.Item1 == 5).ShouldBe(1); // 45 leaves hold one perfect subtree of 32
        for (var size = 1; size <= leaves.Count; size++)
            for (var index = 0; index < size; index++)
            {
                var planned = Merkle.InclusionRanges(index, size)
                    .Select(r => Merkle.FoldChunks([.. Merkle.Chunks(r.From, r.To).Select(c => stored[c])])).ToList();
                planned.ShouldBe(Merkle.InclusionProof(leaves, index, size), $"leaf {index} of {size}");
            }
    }
}
