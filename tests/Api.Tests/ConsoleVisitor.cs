using System.Net;
using System.Text.RegularExpressions;
using Shouldly;

namespace Ledger.Api.Tests;

/// <summary>
/// A browser as far as the console's server cares: keeps cookies by name, follows nothing by itself, reads the form
/// token off the last page. For the console's server-side specs; <see cref="ConsoleBrowserSpecs"/> drive a real one.
/// </summary>
public sealed partial class ConsoleVisitor(HttpClient client)
{
    private readonly Dictionary<string, string> _cookies = new(StringComparer.Ordinal);

    public string? Cookie(string name) => _cookies.GetValueOrDefault(name);

    public IReadOnlyList<string> LastSetCookies { get; private set; } = [];

    /// <summary>The CSRF token in the last page's forms.</summary>
    public string? Csrf { get; private set; }

    public string LastBody { get; private set; } = "";

    public Task<HttpResponseMessage> GetAsync(string path) => SendAsync(new HttpRequestMessage(HttpMethod.Get, path));

    public Task<HttpResponseMessage> PostFormAsync(string path, params (string Name, string Value)[] fields) =>
        SendAsync(new HttpRequestMessage(HttpMethod.Post, path) { Content = new FormUrlEncodedContent(fields.Select(f => KeyValuePair.Create(f.Name, f.Value))) });

    /// <summary>Opens the sign-in form, then submits <paramref name="key"/> with the form's token; the answer to the POST.</summary>
    public async Task<HttpResponseMessage> SignInAsync(string key, string next = "/console/payments")
    {
        (await GetAsync("/console/sign-in")).StatusCode.ShouldBe(HttpStatusCode.OK);
        return await PostFormAsync("/console/sign-in", ("key", key), ("csrf", Csrf!), ("next", next));
    }

    public async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request)
    {
        if (_cookies.Count > 0) request.Headers.Add("Cookie", string.Join("; ", _cookies.Select(c => $"{c.Key}={c.Value}")));
        var response = await client.SendAsync(request);
        LastSetCookies = response.Headers.TryGetValues("Set-Cookie", out var set) ? set.ToList() : [];
        foreach (var cookie in LastSetCookies)
        {
            var (name, value) = (cookie[..cookie.IndexOf('=')], cookie[(cookie.IndexOf('=') + 1)..].Split(';')[0]);
            if (value.Length == 0 || cookie.Contains("expires=Thu, 01 Jan 1970", StringComparison.OrdinalIgnoreCase)) _cookies.Remove(name);
            else _cookies[name] = value;
        }
        LastBody = await response.Content.ReadAsStringAsync();
        if (CsrfField().Match(LastBody) is { Success: true } m) Csrf = WebUtility.HtmlDecode(m.Groups[1].Value);
        return response;
    }

    [GeneratedRegex("name=\"csrf\" value=\"([^\"]*)\"")]
    private static partial Regex CsrfField();
}
