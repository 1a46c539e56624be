using System.Text.Encodings.Web;
using Ledger.Host.Http;
using Microsoft.AspNetCore.Authentication;
using Microsoft.Extensions.Options;

namespace Ledger.Host.WebConsole;

/// <summary>
/// The console's sign-in scheme: the <see cref="ConsoleSessions.CookieName"/> cookie, resumed against the sessions table.
/// Without a live session a page answers 303 to the sign-in form; a page the key may not see answers 403.
/// </summary>
public sealed class ConsoleAuthentication(
    IOptionsMonitor<AuthenticationSchemeOptions> options, ILoggerFactory logger, UrlEncoder encoder, ConsoleSessions sessions)
    : AuthenticationHandler<AuthenticationSchemeOptions>(options, logger, encoder)
{
    public const string SchemeName = "Console";
    public const string Policy = "console";
    public const string AuditorPolicy = "console-auditor";

    protected override async Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        if (Request.Cookies[ConsoleSessions.CookieName] is not { Length: > 0 } token) return AuthenticateResult.NoResult();
        var principal = await sessions.ResumeAsync(token, SchemeName, Context.RequestAborted);
        return principal is null
            ? AuthenticateResult.Fail("The console session is over.")
            : AuthenticateResult.Success(new AuthenticationTicket(principal, SchemeName));
    }

    protected override Task HandleChallengeAsync(AuthenticationProperties properties)
    {
        if (Request.Cookies.ContainsKey(ConsoleSessions.CookieName)) Response.Cookies.Delete(ConsoleSessions.CookieName, CookieOptions(Request));
        var back = Request.Method == HttpMethods.Get ? (Request.Path + Request.QueryString).ToString() : "/console/payments";
        Response.StatusCode = StatusCodes.Status303SeeOther;
        Response.Headers.Location = $"/console/sign-in?next={Uri.EscapeDataString(back)}";
        return Task.CompletedTask;
    }

    protected override Task HandleForbiddenAsync(AuthenticationProperties properties) =>
        ConsoleHtml.Problem(Context, 403, "Not for this key.", "This page is for auditors. Merchants see their own payments and metrics.")
            .ExecuteAsync(Context);

    /// <summary>The session cookie: unreadable to scripts, never sent by another site, only over HTTPS when served over it.</summary>
    public static CookieOptions CookieOptions(HttpRequest request) => new()
    {
        HttpOnly = true,
        SameSite = SameSiteMode.Strict,
        Secure = request.IsHttps,
        Path = "/console",
        IsEssential = true,
    };
}

public static class ConsoleSetup
{
    /// <summary>Scripts and styles from this host only, nothing inline, no framing, forms only to this host.</summary>
    public const string ContentSecurityPolicy =
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; " +
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

    public static IServiceCollection AddLedgerConsole(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<ConsoleOptions>().Bind(configuration.GetSection("Ledger:Console"))
            .Validate(o => o.IdleTimeout > TimeSpan.Zero && o.SessionLifetime >= o.IdleTimeout,
                "Ledger:Console:IdleTimeout must be positive and no longer than Ledger:Console:SessionLifetime.")
            .ValidateOnStart();
        services.AddSingleton<ConsoleSessions>();
        services.AddAuthentication().AddScheme<AuthenticationSchemeOptions, ConsoleAuthentication>(ConsoleAuthentication.SchemeName, null);
        services.AddAuthorizationBuilder()
            .AddPolicy(ConsoleAuthentication.Policy, p => p.AddAuthenticationSchemes(ConsoleAuthentication.SchemeName).RequireAuthenticatedUser()
                .RequireAssertion(c => c.User.IsAuditor() || c.User.MerchantId() is not null))
            .AddPolicy(ConsoleAuthentication.AuditorPolicy, p => p.AddAuthenticationSchemes(ConsoleAuthentication.SchemeName).RequireRole(Roles.Auditor));
        return services;
    }

    /// <summary>
    /// For every /console answer: the security headers, and errors as pages rather than problem+json (a person reads
    /// them). Then the assets, embedded in the host: nothing is fetched from elsewhere.
    /// </summary>
    public static void UseLedgerConsole(this WebApplication app)
    {
        app.UseWhen(c => c.Request.Path.StartsWithSegments("/console"), console => console.Use(async (http, next) =>
        {
            http.Response.OnStarting(() =>
            {
                var headers = http.Response.Headers;
                if (!headers.ContainsKey("Content-Security-Policy")) headers.ContentSecurityPolicy = ContentSecurityPolicy;
                headers.XContentTypeOptions = "nosniff";
                headers["Referrer-Policy"] = "no-referrer";
                headers.XFrameOptions = "DENY";
                if (!headers.ContainsKey("Cache-Control")) headers.CacheControl = "no-store";
                return Task.CompletedTask;
            });
            try
            {
                await next(http);
            }
            catch (Exception e) when (!http.Response.HasStarted && Problems.ToProblem(e) is { Status: < 500 } problem)
            {
                await ConsoleHtml.Problem(http, problem.Status, problem.Title, problem.Message).ExecuteAsync(http);
                return;
            }
            if (http.Response is { StatusCode: 404, HasStarted: false } && http.GetEndpoint() is null)
                await ConsoleHtml.Problem(http, 404, "Not found.", "There is no console page at this address.").ExecuteAsync(http);
        }));
        app.MapGet("/console", () => Results.Redirect("/console/payments")).ExcludeFromDescription();
        app.MapGet("/console/assets/{name}", (string name, HttpContext http) =>
        {
            if (!Assets.TryGetValue(name, out var asset)) return Results.NotFound();
            http.Response.Headers.CacheControl = "public, max-age=3600";
            return Results.Bytes(asset.Bytes, asset.ContentType);
        }).ExcludeFromDescription();
    }

    private static readonly Dictionary<string, (byte[] Bytes, string ContentType)> Assets = LoadAssets();

    private static Dictionary<string, (byte[], string)> LoadAssets()
    {
        var assembly = typeof(ConsoleSetup).Assembly;
        var assets = new Dictionary<string, (byte[], string)>(StringComparer.Ordinal);
        foreach (var resource in assembly.GetManifestResourceNames().Where(n => n.StartsWith("console/", StringComparison.Ordinal)))
        {
            using var stream = assembly.GetManifestResourceStream(resource)!;
            using var copy = new MemoryStream();
            stream.CopyTo(copy);
            var name = resource["console/".Length..];
            var type = Path.GetExtension(name) switch
            {
                ".js" => "text/javascript; charset=utf-8",
                ".css" => "text/css; charset=utf-8",
                ".svg" => "image/svg+xml",
                _ => "text/plain; charset=utf-8",
            };
            assets[name] = (copy.ToArray(), type);
        }
        return assets;
    }
}
