using Ledger.Host.Http;
using Wolverine.Http;
using static Ledger.Host.WebConsole.ConsoleHtml;

namespace Ledger.Host.WebConsole;

/// <summary>
/// GET and POST /console/sign-in: an API key, typed into a form (never put in a URL), exchanged for a session cookie.
/// The form carries a token that must match a cookie set with it (double submit), so another site cannot sign a
/// browser in under its own key. Attempts are rate-limited per client address like unauthenticated API calls.
/// </summary>
[ExcludeFromDescription] // a page for browsers, not part of the API's document
public static class SignIn
{
    public const string FormCookie = "ledger_console_form";

    public static void Configure(HttpChain chain) => chain.Metadata.AllowAnonymous();

    /// <summary>A sign-in attempt: rate-limited per client address with the API's unauthenticated requests (Http/RateLimits.cs).</summary>
    public static bool IsAttempt(HttpRequest request) => HttpMethods.IsPost(request.Method) && request.Path.Equals("/console/sign-in", StringComparison.Ordinal);

    [WolverineGet("/console/sign-in")]
    public static IResult Form(HttpContext http) => Render(http, Next(http.Request.Query["next"]), message: null, status: 200);

    [WolverinePost("/console/sign-in")]
    public static async Task<IResult> Submit(HttpContext http, ApiKeyRing keys, ConsoleSessions sessions)
    {
        if (!http.Request.HasFormContentType)
            return Problem(http, 415, "Unsupported form.", "Sign in with the form on this page.");
        var form = await http.Request.ReadFormAsync(http.RequestAborted);
        var next = Next(form["next"]);
        if (!ConsoleSessions.SameToken(form["csrf"].FirstOrDefault(), http.Request.Cookies[FormCookie]))
            return Render(http, next, "The sign-in form expired. Please try again.", 400);
        var key = form["key"].FirstOrDefault()?.Trim() ?? "";
        var (outcome, match, _) = keys.Match(key, ConsoleAuthentication.SchemeName);
        if (outcome != ApiKeyRing.Outcome.Valid)
            return Render(http, next, "That key was not accepted. Check it and try again.", 401);

        var token = await sessions.StartAsync(match!, http.RequestAborted);
        http.Response.Cookies.Append(ConsoleSessions.CookieName, token, ConsoleAuthentication.CookieOptions(http.Request));
        http.Response.Cookies.Delete(FormCookie, FormCookieOptions(http.Request));
        return SeeOther(http, next);
    }

    /// <summary>303 See Other: after a POST the browser GETs the next page.</summary>
    public static IResult SeeOther(HttpContext http, string location)
    {
        http.Response.Headers.Location = location;
        return Results.StatusCode(StatusCodes.Status303SeeOther);
    }

    /// <summary>Only a console page of this host: never an absolute URL, never "//elsewhere" (no open redirect).</summary>
    private static string Next(string? next) =>
        next is { Length: > 0 and < 2000 } && next.StartsWith("/console/", StringComparison.Ordinal) && !next.Contains('\\')
            && !next.StartsWith("/console/sign-", StringComparison.Ordinal)
            ? next
            : "/console/payments";

    private static IResult Render(HttpContext http, string next, string? message, int status)
    {
        var csrf = ConsoleSessions.RandomToken();
        http.Response.Cookies.Append(FormCookie, csrf, FormCookieOptions(http.Request));
        return Page(http, "Sign in", $"""
            <section class="sign-in">
            <h1>Sign in to the Ledger console</h1>
            <p>Use your API key: a merchant key shows that merchant's payments, the auditor key everyone's and the operations page.</p>
            {(message is null ? "" : $"<p class=\"error\" role=\"alert\" id=\"sign-in-error\">{E(message)}</p>")}
            <form method="post" action="/console/sign-in" autocomplete="off">
              <input type="hidden" name="csrf" value="{E(csrf)}">
              <input type="hidden" name="next" value="{E(next)}">
              <label for="key">API key</label>
              <input id="key" name="key" type="password" required autofocus spellcheck="false"{(message is null ? "" : " aria-describedby=\"sign-in-error\"")}>
              <button type="submit">Sign in</button>
            </form>
            <p class="muted">The key is sent once, in this form's body, and kept in no cookie, URL or log; the session ends after
            a while without use, after some hours in any case, and when you sign out.</p>
            </section>
            """, status: status);
    }

    private static CookieOptions FormCookieOptions(HttpRequest request) => new()
    {
        HttpOnly = true,
        SameSite = SameSiteMode.Strict,
        Secure = request.IsHttps,
        Path = "/console/sign-in",
        MaxAge = TimeSpan.FromHours(1),
        IsEssential = true,
    };
}
