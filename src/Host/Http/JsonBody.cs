using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization.Metadata;

namespace Ledger.Host.Http;

/// <summary>A request body as read: the value, its bytes (for the idempotency fingerprint), and the field errors found so far.</summary>
public sealed record ReadBody<T>(T Value, byte[] Raw, Dictionary<string, string[]> Errors)
{
    public void Error(string field, string message) => Errors[field] = [.. Errors.GetValueOrDefault(field, []), message];

    /// <summary>Every field error of the body at once: unknown fields together with the handler's own checks.</summary>
    public void ThrowIfInvalid()
    {
        if (Errors.Count > 0) throw ApiProblem.Validation(Errors);
    }
}

/// <summary>
/// Reads a JSON request body strictly: size-limited; a repeated member is refused (the body is ambiguous);
/// unknown fields are reported with every other field error; type errors are named by path.
/// </summary>
public static partial class JsonBody
{
    public const int MaxBytes = 64 * 1024;

    public static async Task<ReadBody<T>> ReadAsync<T>(HttpRequest request, JsonTypeInfo<T> type, CancellationToken ct)
    {
        if (request.ContentLength > MaxBytes) throw TooLarge();
        if (request.ContentType is { } ct0 && !ct0.StartsWith("application/json", StringComparison.OrdinalIgnoreCase))
            throw new ApiProblem(415, "unsupported_media_type", "Send JSON.", "The request body must be application/json.");
        using var buffer = new MemoryStream();
        var chunk = new byte[8192];
        int read;
        while ((read = await request.Body.ReadAsync(chunk, ct)) > 0)
        {
            if (buffer.Length + read > MaxBytes) throw TooLarge();
            buffer.Write(chunk, 0, read);
        }
        var raw = buffer.ToArray();
        if (raw.Length == 0) throw ApiProblem.Validation("body", "A JSON body is required.");

        var shape = new Shape();
        try
        {
            var reader = new Utf8JsonReader(raw);
            if (reader.Read()) shape.Walk(ref reader, type, []);
        }
        catch (JsonException)
        {
            throw ApiProblem.Validation("body", "The body is not valid JSON.");
        }
        if (shape.Repeated.Count > 0)
            throw new ApiProblem(400, "invalid_json", "The body repeats a member.",
                "A JSON member appears more than once in one object, so the body is ambiguous. Send each member once.",
                shape.Repeated.Distinct().ToDictionary(path => path, _ => new[] { "Repeated member." }));

        var errors = new Dictionary<string, string[]>();
        foreach (var unknown in shape.Unknown) errors[Shape.Display(unknown)] = ["Unknown field."];
        try
        {
            var value = shape.Unknown.Count == 0
                ? JsonSerializer.Deserialize(raw, type)
                : Without(raw, shape.Unknown).Deserialize(type); // the rest of the body is still checked, field by field
            if (value is null) throw ApiProblem.Validation("body", "A JSON object is required.");
            return new ReadBody<T>(value, raw, errors);
        }
        catch (JsonException e)
        {
            var field = string.IsNullOrEmpty(e.Path) || e.Path == "$" ? "body" : Shape.Display(e.Path.TrimStart('$', '.').Split('.'));
            errors[field] = [Describe(e)];
            throw ApiProblem.Validation(errors);
        }
    }

    private static JsonNode? Without(byte[] raw, List<string[]> unknown)
    {
        var root = JsonNode.Parse(raw);
        foreach (var path in unknown)
        {
            var parent = path[..^1].Aggregate(root, (node, name) => node?[name]);
            (parent as JsonObject)?.Remove(path[^1]);
        }
        return root;
    }

    // The serializer's messages can quote the offending value; for a card number that would echo the PAN.
    private static string Describe(JsonException e) => e.Message switch
    {
        var m when m.Contains("missing required properties", StringComparison.Ordinal) => "Required fields are missing.",
        var m when m.Contains("could not be converted", StringComparison.Ordinal) => "The value has the wrong type or is out of range.",
        _ => "The body is not valid JSON.",
    };

    private static ApiProblem TooLarge() =>
        new(413, "payload_too_large", "The request body is too large.", $"Request bodies are limited to {MaxBytes / 1024} KiB.");

    /// <summary>One pass over the body's tokens: members repeated within an object, and members the type does not have.</summary>
    private sealed class Shape
    {
        public List<string> Repeated { get; } = [];
        public List<string[]> Unknown { get; } = [];

        public void Walk(ref Utf8JsonReader reader, JsonTypeInfo? type, string[] path)
        {
            switch (reader.TokenType)
            {
                case JsonTokenType.StartObject:
                    var seen = new HashSet<string>(StringComparer.Ordinal);
                    while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
                    {
                        var name = reader.GetString()!;
                        string[] member = [.. path, name];
                        if (!seen.Add(name)) Repeated.Add(Display(member));
                        var property = type?.Kind == JsonTypeInfoKind.Object ? type.Properties.FirstOrDefault(p => p.Name == name) : null;
                        if (type?.Kind == JsonTypeInfoKind.Object && property is null) Unknown.Add(member);
                        reader.Read();
                        // Only a nested object has members to check against its type; an unknown member is still searched for repeats.
                        var child = property is not null && reader.TokenType == JsonTokenType.StartObject
                            ? type!.Options.GetTypeInfo(property.PropertyType)
                            : null;
                        Walk(ref reader, child, member);
                    }
                    break;
                case JsonTokenType.StartArray:
                    for (var i = 0; reader.Read() && reader.TokenType != JsonTokenType.EndArray; i++)
                        Walk(ref reader, null, path.Length == 0 ? [$"[{i}]"] : [.. path[..^1], $"{path[^1]}[{i}]"]);
                    break;
            }
        }

        /// <summary>A member's path as the errors name it: control characters shown as '?', long names cut, digit runs masked.</summary>
        public static string Display(IEnumerable<string> path) => string.Join('.', path.Select(Printable));

        // A name that looks like a card number is never echoed.
        private static string Printable(string name) => Redaction.Shown(name.Length > 40 ? name[..40] : name);
    }
}
