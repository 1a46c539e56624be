using System.Security.Cryptography;
using System.Text;

namespace Ledger.EventStore;

/// <summary>
/// The per-stream hash chain, computed here without the database's help, from the documented canonical form
/// (docs/events.md): an auditor's independent check of what the trigger mt_events_chain wrote.
/// </summary>
public static class HashChain
{
    public static string Canonical(string streamId, long version, string type, DateTimeOffset occurredAt, string dataJson, string metadataJson) =>
        $"{streamId}\n{version}\n{type}\n{occurredAt.UtcDateTime:yyyy-MM-ddTHH:mm:ss.ffffff}Z\n{dataJson}\n{metadataJson}";

    public static byte[] Hash(byte[]? previousHash, string canonical) =>
        SHA256.HashData([.. previousHash ?? [], .. Encoding.UTF8.GetBytes(canonical)]);

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
            var expected = Hash(e.PreviousHash, Canonical(e.StreamId, e.Version, e.Type, e.OccurredAt, e.DataJson, e.MetadataJson));
            if (!SameBytes(expected, e.Hash))
                yield return $"{where}: hash does not match its contents (edited?)";
            previous = e.Hash;
        }
        var last = stream.Count == 0 ? 0 : stream[^1].Version;
        if (recordedVersion is { } recorded && recorded != last)
            yield return $"stream {(stream.Count > 0 ? stream[0].StreamId : "?")}: the stream is at version {recorded} but the log holds {last} event(s); events were removed";
    }

    private static bool SameBytes(byte[]? a, byte[]? b) => a is null ? b is null : b is not null && a.AsSpan().SequenceEqual(b);
}
