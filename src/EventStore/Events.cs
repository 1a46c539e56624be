using System.Text.Json.Serialization;

namespace Ledger.EventStore;

/// <summary>Why an event was written and by whom. Stored beside the event, covered by its hash.</summary>
public sealed record EventMetadata(
    string? CorrelationId = null,
    string? CausationId = null,
    string? IdempotencyKey = null,
    string? Actor = null);

/// <summary>Turns a family of events into stable type names and JSON, and back. Never CLR type names.</summary>
public interface IEventCodec<TEvent>
{
    /// <summary>Every event type with its stable name, registered with Marten.</summary>
    IReadOnlyList<(Type Type, string Name)> EventTypes { get; }
    /// <summary>Source-generated JSON metadata for the events, if any (Marten serializes with it).</summary>
    System.Text.Json.Serialization.Metadata.IJsonTypeInfoResolver? JsonResolver => null;
    string TypeNameOf(TEvent @event);
    DateTimeOffset OccurredAt(TEvent @event);
    string Serialize(TEvent @event);
    TEvent Deserialize(string typeName, string json);
}

/// <summary>An event as the log holds it.</summary>
public sealed record StoredEvent<TEvent>(
    long Sequence,
    string StreamId,
    long Version,
    string Type,
    TEvent Data,
    string DataJson,
    EventMetadata Metadata,
    string MetadataJson,
    DateTimeOffset OccurredAt,
    ulong TransactionId,
    byte[] Hash,
    byte[]? PreviousHash);

/// <summary>
/// An event on its way into the log, as inline projections see it (its sequence is not known yet).
/// <paramref name="StreamState"/>: the stream as its writer folded it before the append this event belongs to (what the
/// events were decided on), so a projection can build rows from the state after each event without reading the stream;
/// null for a new stream, or when the writer gave none.
/// </summary>
public sealed record PendingEvent<TEvent>(
    string StreamId,
    long Version,
    string Type,
    TEvent Data,
    DateTimeOffset OccurredAt,
    EventMetadata Metadata,
    object? StreamState = null);

/// <summary>
/// Messages an append publishes, in its transaction: Marten hands them to its message outbox (Wolverine's, in the host), which
/// stores them with the events and sends them once the transaction commits. Nothing is published for an append that rolls back.
/// </summary>
public interface IInlinePublisher<TEvent>
{
    /// <summary>The messages <paramref name="events"/> publish, each with the index of the event it tells of.</summary>
    IEnumerable<(int EventIndex, object Message)> MessagesFor(IReadOnlyList<PendingEvent<TEvent>> events);
}

/// <summary>A place in the global log's commit order.</summary>
public readonly record struct LogPosition(ulong TransactionId, long Sequence)
{
    public static readonly LogPosition Start = new(0, 0);
    public static LogPosition Of<TEvent>(StoredEvent<TEvent> e) => new(e.TransactionId, e.Sequence);
}

public sealed record AppendResult(long Version, IReadOnlyList<long> Sequences);

/// <summary>A page of the global log. Pass <see cref="NextAfter"/> back as <c>after</c> for the next page.</summary>
public sealed record LogPage<TEvent>(IReadOnlyList<StoredEvent<TEvent>> Events, long NextAfter, bool HasMore);

/// <summary>The stream was not at the version the writer expected: someone else wrote first.</summary>
public sealed class ConcurrencyException(string streamId, long expectedVersion, string detail)
    : Exception($"Stream '{streamId}' was not at expected version {expectedVersion}: {detail}")
{
    public string StreamId { get; } = streamId;
    public long ExpectedVersion { get; } = expectedVersion;
}

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, DefaultIgnoreCondition = JsonIgnoreCondition.Never)]
[JsonSerializable(typeof(EventMetadata))]
[JsonSerializable(typeof(Dictionary<string, string>))]
internal sealed partial class StoreJsonContext : JsonSerializerContext;
