using System.Globalization;
using System.Net;
using System.Security.Claims;
using System.Text;
using Ledger.Domain.Money;
using Ledger.Host.Http;

namespace Ledger.Host.WebConsole;

/// <summary>
/// The console's page shell and the little it needs to write HTML safely: every value goes through <see cref="E"/>.
/// No inline script or style anywhere (the Content-Security-Policy forbids both): behaviour is in Assets/console.js,
/// data for it in &lt;script type="application/json"&gt; blocks, which browsers never run.
/// </summary>
public static class ConsoleHtml
{
    public static string E(string? s) => WebUtility.HtmlEncode(s ?? "");

    /// <summary>A query-string value, encoded for a URL inside an attribute.</summary>
    public static string U(string? s) => E(Uri.EscapeDataString(s ?? ""));

    public static string Money(long minor, string currency) =>
        E(Currency.TryFind(currency, out var c) ? c.Display(minor) : $"{currency} {minor.ToString(CultureInfo.InvariantCulture)}");

    public static string When(DateTimeOffset at) => E(at.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss 'UTC'", CultureInfo.InvariantCulture));

    public static string When(DateTime utc) => When(new DateTimeOffset(DateTime.SpecifyKind(utc, DateTimeKind.Utc)));

    public static string Status(string status) =>
        $"<span class=\"badge badge-{E(status)}\">{E(status.Replace('_', ' '))}</span>";

    /// <summary>A whole page: header with navigation for the signed-in caller, then <paramref name="main"/>.</summary>
    public static IResult Page(HttpContext http, string title, string main, string? current = null, int status = 200)
    {
        var user = http.User;
        var signedIn = user.Identity?.AuthenticationType == ConsoleAuthentication.SchemeName;
        var nav = new StringBuilder();
        if (signedIn)
        {
            nav.Append("<nav aria-label=\"Console\"><ul>");
            foreach (var (href, label, auditorOnly) in new[] { ("/console/payments", "Payments", false), ("/console/metrics", "Metrics", false), ("/console/operations", "Operations", true) })
            {
                if (auditorOnly && !user.IsAuditor()) continue;
                nav.Append($"<li><a href=\"{href}\"{(current == label ? " aria-current=\"page\"" : "")}>{label}</a></li>");
            }
            nav.Append("</ul></nav>");
            nav.Append($"""
                <div class="who"><span>Signed in as <strong>{E(Who(user))}</strong></span>
                <form method="post" action="/console/sign-out"><input type="hidden" name="csrf" value="{E(user.FindFirstValue(ConsoleSessions.CsrfClaim))}"><button type="submit">Sign out</button></form></div>
                """);
        }
        var html = $"""
            <!doctype html>
            <html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
            <title>{E(title)} · Ledger console</title>
            <link rel="stylesheet" href="/console/assets/console.css"><link rel="icon" href="/console/assets/favicon.svg" type="image/svg+xml">
            {(current == "Metrics" ? "<script src=\"/console/assets/chart.umd.min.js\" defer></script>\n" : "")}<script src="/console/assets/console.js" defer></script>
            </head>
            <body>
            <a class="skip" href="#main">Skip to content</a>
            <header class="top"><a class="brand" href="/console/payments">Ledger</a>{nav}</header>
            <main id="main" tabindex="-1">
            {main}
            </main>
            </body></html>
            """;
        return Results.Content(html, "text/html; charset=utf-8", Encoding.UTF8, status);
    }

    /// <summary>An error as a page: the same status and words the API would give, and the correlation id to quote.</summary>
    public static IResult Problem(HttpContext http, int status, string title, string detail) =>
        Page(http, title, $"""
            <h1>{E(title)}</h1>
            <p>{E(detail)}</p>
            <p class="muted">Reference: <code>{E(CorrelationId.Of(http))}</code></p>
            """, status: status);

    public static string Who(ClaimsPrincipal user) => user.IsAuditor() ? "auditor" : $"merchant {user.MerchantId()}";
}
