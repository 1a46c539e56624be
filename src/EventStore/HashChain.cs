using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace Ledger.EventStore;

/// <summary>
/// The per-stream hash chain (docs/events.md). Each event has a content hash, SHA-256 of its canonical text (its place,
/// type, time, and its data and metadata as canonical JSON), and a chain hash, SHA-256(previous hash || content hash).
/// The host computes the content hash when it appends (the JSON is at hand there, and SHA-256 is cheap); the trigger
/// mt_events_chain links it to the stream's previous event; <see cref="Check"/> recomputes both from what is stored.
/// </summary>
public static class HashChain
{
    /// <summary>The six lines the content hash covers, joined by \n.</summary>
    public static string Canonical(string streamId, long version, string type, DateTimeOffset occurredAt, string dataJson, string metadataJson) =>
        string.Join('\n', streamId, version.ToString(CultureInfo.InvariantCulture), type, Time(occurredAt), Json(dataJson), Json(metadataJson));

    /// <summary>An instant as the canonical text writes it: UTC, always six fractional digits (microseconds, as stored).</summary>
    public static string Time(DateTimeOffset at) => at.UtcDateTime.ToString(TimeFormat, CultureInfo.InvariantCulture);

    internal const string TimeFormat = "yyyy-MM-dd'T'HH:mm:ss.ffffff'Z'";

    public static byte[] ContentHash(string canonical) => SHA256.HashData(Encoding.UTF8.GetBytes(canonical));

    /// <summary>The chain hash: the previous event's (none for version 1) followed by this event's content hash.</summary>
    public static byte[] Link(byte[]? previousHash, byte[] contentHash) => SHA256.HashData([.. previousHash ?? [], .. contentHash]);

    /// <summary>
    /// SHA-256 of <see cref="Canonical"/>'s text, written as UTF-8 without building the text as a string: the append
    /// path and every audit hash each event through here.
    /// </summary>
    public static byte[] ContentHash(string streamId, long version, string type, DateTimeOffset occurredAt, string dataJson, string metadataJson)
    {
        var text = CanonicalText.Rent();
        text.Text(streamId);
        text.Byte((byte)'\n');
        text.Number(version);
        text.Byte((byte)'\n');
        text.Text(type);
        text.Byte((byte)'\n');
        text.Time(occurredAt);
        text.Byte((byte)'\n');
        text.Json(dataJson);
        text.Byte((byte)'\n');
        text.Json(metadataJson);
        return SHA256.HashData(text.Written);
    }

    /// <summary>An event's content hash recomputed from what is stored.</summary>
    public static byte[] ContentHash<TEvent>(StoredEvent<TEvent> e) =>
        ContentHash(e.StreamId, e.Version, e.Type, e.OccurredAt, e.DataJson, e.MetadataJson);

    /// <summary>An event's chain hash recomputed from what is stored, linked to <paramref name="previousHash"/>.</summary>
    public static byte[] Recompute<TEvent>(StoredEvent<TEvent> e, byte[]? previousHash) => Link(previousHash, ContentHash(e));

    /// <summary>
    /// An event's metadata as the log shows it (the view ledger.events builds the same object in SQL), in canonical
    /// form: <c>{"actor":…,"causationId":…,"correlationId":…,"idempotencyKey":…}</c>, a missing value null.
    /// </summary>
    public static string MetadataJson(EventMetadata metadata)
    {
        var text = CanonicalText.Rent();
        text.Raw("{\"actor\":"u8);
        text.String(metadata.Actor);
        text.Raw(",\"causationId\":"u8);
        text.String(metadata.CausationId);
        text.Raw(",\"correlationId\":"u8);
        text.String(metadata.CorrelationId);
        text.Raw(",\"idempotencyKey\":"u8);
        text.String(metadata.IdempotencyKey);
        text.Byte((byte)'}');
        return Encoding.UTF8.GetString(text.Written);
    }

    /// <summary>
    /// A JSON value in canonical form, the same text as Python's
    /// <c>json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)</c>: object keys in code point order,
    /// no whitespace, strings escaped only where JSON requires it (<c>"</c>, <c>\</c>, control characters), numbers as
    /// written (Ledger's events hold integers only). Equal values give equal text whoever printed them: the host's
    /// serializer, PostgreSQL's jsonb, an auditor's script.
    /// </summary>
    public static string Json(string json)
    {
        var text = CanonicalText.Rent();
        text.Json(json);
        return Encoding.UTF8.GetString(text.Written);
    }

    /// <summary>
    /// What is wrong with one stream's history (events in version order) given the version its stream row records:
    /// edited events, removed or reordered ones, broken links.
    /// </summary>
    public static IEnumerable<string> Check<TEvent>(IReadOnlyList<StoredEvent<TEvent>> stream, long? recordedVersion) =>
        Check(stream, stream.Select(ContentHash).ToList(), recordedVersion);

    /// <inheritdoc cref="Check{TEvent}(IReadOnlyList{StoredEvent{TEvent}}, long?)"/>
    /// <param name="contentHashes">Each event's <see cref="ContentHash{TEvent}"/>, computed once by a caller that needs them too.</param>
    public static IEnumerable<string> Check<TEvent>(IReadOnlyList<StoredEvent<TEvent>> stream, IReadOnlyList<byte[]> contentHashes, long? recordedVersion)
    {
        byte[]? previous = null;
        for (var i = 0; i < stream.Count; i++)
        {
            var e = stream[i];
            if (e.Version != i + 1)
            {
                yield return $"stream {e.StreamId} version {e.Version}: expected version {i + 1} here; an event is missing or out of order";
                yield break;
            }
            if (!SameBytes(e.PreviousHash, previous))
                yield return $"stream {e.StreamId} version {e.Version}: previous_hash does not match the hash of version {i}";
            if (!SameBytes(Link(e.PreviousHash, contentHashes[i]), e.Hash))
                yield return $"stream {e.StreamId} version {e.Version}: hash does not match its contents (edited?)";
            previous = e.Hash;
        }
        var last = stream.Count == 0 ? 0 : stream[^1].Version;
        if (recordedVersion is { } recorded && recorded != last)
            yield return $"stream {(stream.Count > 0 ? stream[0].StreamId : "?")}: the stream is at version {recorded} but the log holds {last} event(s); events were removed";
    }

    private static bool SameBytes(byte[]? a, byte[]? b) => a is null ? b is null : b is not null && a.AsSpan().SequenceEqual(b);
}
