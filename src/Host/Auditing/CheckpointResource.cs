using Ledger.EventStore;
using Ledger.EventStore.Audit;

namespace Ledger.Host.Auditing;

/// <summary>A signed checkpoint as served: the same fields, and the same text, as a line of the checkpoint file.</summary>
public sealed record CheckpointResource(long Position, long EventCount, string Root, string At, string KeyId, string Signature)
{
    public static CheckpointResource From(Checkpoint c) => new(c.Position, c.EventCount, c.Root, HashChain.Time(c.At), c.KeyId, c.Signature);
}

public sealed record CheckpointPage(IReadOnlyList<CheckpointResource> Data, long NextAfter, bool HasMore);

public sealed record PublicKeyResource(string KeyId, string PublicKey);

/// <summary>One event with what proves it is in the log under the checkpoint: its leaf's index and audit path.</summary>
public sealed record ProvenEvent(EventResource Event, long LeafIndex, IReadOnlyList<string> Path);

public sealed record PaymentProof(string PaymentId, CheckpointResource Checkpoint, IReadOnlyList<ProvenEvent> Events, IReadOnlyList<long> NotYetCovered);
