using System.Globalization;

namespace Ledger.Host.Http;

/// <summary>Query-string parameters, parsed strictly: anything malformed is a 400 naming the parameter.</summary>
public sealed class Query(HttpRequest request)
{
    private readonly Dictionary<string, string[]> _errors = [];

    public string? Text(string name, int maxLength = 255)
    {
        var values = request.Query[name];
        if (values.Count == 0) return null;
        var value = values[0];
        if (values.Count > 1 || string.IsNullOrEmpty(value) || value.Length > maxLength || value.Any(char.IsControl))
            return Fail<string>(name, $"Give one value of 1-{maxLength} characters.");
        return value;
    }

    public string? OneOf(string name, IReadOnlyCollection<string> allowed) =>
        Text(name) is { } value && !allowed.Contains(value) ? Fail<string>(name, $"Must be one of: {string.Join(", ", allowed)}.") : request.Query[name].FirstOrDefault();

    public int Int(string name, int defaultValue, int min, int max)
    {
        if (Text(name) is not { } text) return defaultValue;
        if (int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var value) && value >= min && value <= max) return value;
        _errors[name] = [$"Must be a whole number from {min} to {max}."];
        return defaultValue;
    }

    public long? Long(string name, long min)
    {
        if (Text(name) is not { } text) return null;
        if (long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var value) && value >= min) return value;
        _errors[name] = [$"Must be a whole number, at least {min}."];
        return null;
    }

    /// <summary>An RFC 3339 time with an explicit offset or Z.</summary>
    public DateTimeOffset? Time(string name)
    {
        if (Text(name) is not { } text) return null;
        if (text.Length >= 20 && (text.EndsWith('Z') || text[^6] is '+' or '-')
            && DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AdjustToUniversal, out var value))
            return value;
        _errors[name] = ["Must be an RFC 3339 time, e.g. 2026-11-22T10:00:00Z."];
        return null;
    }

    public void Fail(string name, string message) => _errors[name] = [message];

    private T? Fail<T>(string name, string message) where T : class
    {
        _errors[name] = [message];
        return null;
    }

    /// <summary>Throws the 400 if any parameter was malformed.</summary>
    public void ThrowIfInvalid()
    {
        if (_errors.Count > 0) throw ApiProblem.Validation(_errors);
    }
}
