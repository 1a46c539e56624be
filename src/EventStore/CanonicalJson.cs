using System.Text.Json;
using System.Text.Json.Nodes;

namespace Ledger.EventStore;

/// <summary>
/// JSON with object keys sorted and no whitespace: equal documents give equal text. The idempotency fingerprint's
/// form, kept as it is because stored fingerprints depend on it (a retry across an upgrade must still match). For
/// anything else use <see cref="HashChain.Json"/>, the documented canonical form.
/// </summary>
public static class CanonicalJson
{
    public static string Of(JsonNode? node) => node switch
    {
        JsonObject o => "{" + string.Join(",", o.OrderBy(p => p.Key, StringComparer.Ordinal)
            .Select(p => JsonSerializer.Serialize(p.Key, EventJsonKeys.Default.String) + ":" + Of(p.Value))) + "}",
        JsonArray a => "[" + string.Join(",", a.Select(Of)) + "]",
        null => "null",
        _ => node.ToJsonString(),
    };
}

[System.Text.Json.Serialization.JsonSerializable(typeof(string))]
internal sealed partial class EventJsonKeys : System.Text.Json.Serialization.JsonSerializerContext;
