using System.Buffers;
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
    public static string Time(DateTimeOffset at) => at.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.ffffff'Z'", CultureInfo.InvariantCulture);

    public static byte[] ContentHash(string canonical) => SHA256.HashData(Encoding.UTF8.GetBytes(canonical));

    /// <summary>The chain hash: the previous event's (none for version 1) followed by this event's content hash.</summary>
    public static byte[] Link(byte[]? previousHash, byte[] contentHash) => SHA256.HashData([.. previousHash ?? [], .. contentHash]);

    /// <summary>An event's chain hash recomputed from what is stored, linked to <paramref name="previousHash"/>.</summary>
    public static byte[] Recompute<TEvent>(StoredEvent<TEvent> e, byte[]? previousHash) =>
        Link(previousHash, ContentHash(Canonical(e.StreamId, e.Version, e.Type, e.OccurredAt, e.DataJson, e.MetadataJson)));

    /// <summary>
    /// A JSON value in canonical form, the same text as Python's
    /// <c>json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)</c>: object keys in code point order,
    /// no whitespace, strings escaped only where JSON requires it (<c>"</c>, <c>\</c>, control characters), numbers as
    /// written (Ledger's events hold integers only). Equal values give equal text whoever printed them: the host's
    /// serializer, PostgreSQL's jsonb, an auditor's script.
    /// </summary>
    public static string Json(string json)
    {
        using var document = JsonDocument.Parse(json);
        var text = new StringBuilder(json.Length);
        Write(document.RootElement, text);
        return text.ToString();
    }

    private static void Write(JsonElement value, StringBuilder text)
    {
        switch (value.ValueKind)
        {
            case JsonValueKind.Object:
                var properties = value.EnumerateObject().ToArray();
                Array.Sort(properties, (a, b) => CodePointOrder(a.Name, b.Name));
                text.Append('{');
                for (var i = 0; i < properties.Length; i++)
                {
                    if (i > 0) text.Append(',');
                    WriteString(properties[i].Name, text);
                    text.Append(':');
                    Write(properties[i].Value, text);
                }
                text.Append('}');
                break;
            case JsonValueKind.Array:
                text.Append('[');
                var first = true;
                foreach (var item in value.EnumerateArray())
                {
                    if (!first) text.Append(',');
                    first = false;
                    Write(item, text);
                }
                text.Append(']');
                break;
            case JsonValueKind.String:
                WriteString(value.GetString()!, text);
                break;
            case JsonValueKind.Number:
                text.Append(value.GetRawText());
                break;
            case JsonValueKind.True: text.Append("true"); break;
            case JsonValueKind.False: text.Append("false"); break;
            default: text.Append("null"); break;
        }
    }

    private static readonly SearchValues<char> NeedsEscape = SearchValues.Create(
        "\"\\\u0000\u0001\u0002\u0003\u0004\u0005\u0006\u0007\u0008\u0009\u000a\u000b\u000c\u000d\u000e\u000f" +
        "\u0010\u0011\u0012\u0013\u0014\u0015\u0016\u0017\u0018\u0019\u001a\u001b\u001c\u001d\u001e\u001f");

    private static void WriteString(string s, StringBuilder text)
    {
        text.Append('"');
        var rest = s.AsSpan();
        int at;
        while ((at = rest.IndexOfAny(NeedsEscape)) >= 0)
        {
            text.Append(rest[..at]);
            text.Append(rest[at] switch
            {
                '"' => "\\\"",
                '\\' => "\\\\",
                '\n' => "\\n",
                '\r' => "\\r",
                '\t' => "\\t",
                '\b' => "\\b",
                '\f' => "\\f",
                var c => $"\\u{(int)c:x4}",
            });
            rest = rest[(at + 1)..];
        }
        text.Append(rest).Append('"');
    }

    /// <summary>Code point order (Python's string order), not UTF-16 code unit order: they differ past U+FFFF.</summary>
    private static int CodePointOrder(string a, string b)
    {
        var (x, y) = (a.EnumerateRunes(), b.EnumerateRunes());
        while (true)
        {
            var (hasX, hasY) = (x.MoveNext(), y.MoveNext());
            if (!hasX || !hasY) return hasX.CompareTo(hasY);
            var order = x.Current.Value.CompareTo(y.Current.Value);
            if (order != 0) return order;
        }
    }

    /// <summary>
    /// What is wrong with one stream's history (events in version order) given the version its stream row records:
    /// edited events, removed or reordered ones, broken links.
    /// </summary>
    public static IEnumerable<string> Check<TEvent>(IReadOnlyList<StoredEvent<TEvent>> stream, long? recordedVersion)
    {
        byte[]? previous = null;
        for (var i = 0; i < stream.Count; i++)
        {
            var e = stream[i];
            var where = $"stream {e.StreamId} version {e.Version}";
            if (e.Version != i + 1)
            {
                yield return $"{where}: expected version {i + 1} here; an event is missing or out of order";
                yield break;
            }
            if (!SameBytes(e.PreviousHash, previous))
                yield return $"{where}: previous_hash does not match the hash of version {i}";
            if (!SameBytes(Recompute(e, e.PreviousHash), e.Hash))
                yield return $"{where}: hash does not match its contents (edited?)";
            previous = e.Hash;
        }
        var last = stream.Count == 0 ? 0 : stream[^1].Version;
        if (recordedVersion is { } recorded && recorded != last)
            yield return $"stream {(stream.Count > 0 ? stream[0].StreamId : "?")}: the stream is at version {recorded} but the log holds {last} event(s); events were removed";
    }

    private static bool SameBytes(byte[]? a, byte[]? b) => a is null ? b is null : b is not null && a.AsSpan().SequenceEqual(b);
}
