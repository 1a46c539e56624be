using System.Text.Json;
using System.Text.Json.Serialization;
using Ledger.Domain.Payments;
using Ledger.EventStore;

namespace Ledger.Host.Auditing;

/// <summary>
/// An event as auditors see it: data and metadata exactly as stored (byte for byte, not re-serialized) and the
/// time with six fractional digits, so hash = SHA-256(previousHash || canonical) can be recomputed from this
/// document alone (docs/events.md).
/// </summary>
public sealed record EventResource(
    long Sequence, string StreamId, long Version, string Type, string OccurredAt, RawJson Data, RawJson Metadata,
    string Hash, string? PreviousHash)
{
    public static EventResource From(StoredEvent<PaymentEvent> e) => new(
        e.Sequence, e.StreamId, e.Version, e.Type,
        HashChain.Time(e.OccurredAt),
        new RawJson(e.DataJson), new RawJson(e.MetadataJson),
        Convert.ToHexStringLower(e.Hash), e.PreviousHash is null ? null : Convert.ToHexStringLower(e.PreviousHash));
}

/// <summary>JSON text written into a document as is.</summary>
[JsonConverter(typeof(RawJsonConverter))]
public readonly record struct RawJson(string Text);

public sealed class RawJsonConverter : JsonConverter<RawJson>
{
    public override RawJson Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        using var document = JsonDocument.ParseValue(ref reader);
        return new RawJson(document.RootElement.GetRawText());
    }

    public override void Write(Utf8JsonWriter writer, RawJson value, JsonSerializerOptions options) =>
        writer.WriteRawValue(value.Text, skipInputValidation: true);
}

public sealed record StreamResource(string StreamId, long Version, IReadOnlyList<EventResource> Events);

public sealed record EventPage(IReadOnlyList<EventResource> Data, long NextAfter, bool HasMore);
