using System.Text.Json;
using System.Text.Json.Serialization.Metadata;

namespace Ledger.Host.Http;

/// <summary>Reads a JSON request body strictly: size-limited, unknown fields refused, type errors named by path.</summary>
public static class JsonBody
{
    public const int MaxBytes = 64 * 1024;

    public static async Task<(T Value, byte[] Raw)> ReadAsync<T>(HttpRequest request, JsonTypeInfo<T> type, CancellationToken ct)
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
        try
        {
            var value = JsonSerializer.Deserialize(raw, type);
            return value is null ? throw ApiProblem.Validation("body", "A JSON object is required.") : (value, raw);
        }
        catch (JsonException e)
        {
            var field = string.IsNullOrEmpty(e.Path) || e.Path == "$" ? "body" : e.Path.TrimStart('$', '.');
            throw ApiProblem.Validation(field, Describe(e));
        }
    }

    // The serializer's messages can quote the offending value; for a card number that would echo the PAN.
    private static string Describe(JsonException e) => e.Message switch
    {
        var m when m.Contains("could not be mapped", StringComparison.Ordinal) => "Unknown field.",
        var m when m.Contains("missing required properties", StringComparison.Ordinal) => "Required fields are missing.",
        var m when m.Contains("could not be converted", StringComparison.Ordinal) => "The value has the wrong type or is out of range.",
        _ => "The body is not valid JSON.",
    };

    private static ApiProblem TooLarge() =>
        new(413, "payload_too_large", "The request body is too large.", $"Request bodies are limited to {MaxBytes / 1024} KiB.");
}
