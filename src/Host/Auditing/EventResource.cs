using System.Text.Json;
using Ledger.Domain.Payments;
using Ledger.EventStore;

namespace Ledger.Host.Auditing;

public sealed record EventMetadataResource(string? CorrelationId, string? CausationId, string? IdempotencyKey, string? Actor);

/// <summary>An event as auditors see it: the stored data verbatim, its metadata, and its place in the hash chain (hex).</summary>
public sealed record EventResource(
    long Sequence, string StreamId, long Version, string Type, DateTime OccurredAt, JsonElement Data,
    EventMetadataResource Metadata, string Hash, string? PreviousHash)
{
    public static EventResource From(StoredEvent<PaymentEvent> e)
    {
        using var data = JsonDocument.Parse(e.DataJson);
        return new EventResource(e.Sequence, e.StreamId, e.Version, e.Type, e.OccurredAt.UtcDateTime, data.RootElement.Clone(),
            new EventMetadataResource(e.Metadata.CorrelationId, e.Metadata.CausationId, e.Metadata.IdempotencyKey, e.Metadata.Actor),
            Convert.ToHexStringLower(e.Hash), e.PreviousHash is null ? null : Convert.ToHexStringLower(e.PreviousHash));
    }
}

public sealed record StreamResource(string StreamId, long Version, IReadOnlyList<EventResource> Events);

public sealed record EventPage(IReadOnlyList<EventResource> Data, long NextAfter, bool HasMore);
