using System.Security.Claims;
using Wolverine.Http;

namespace Ledger.Host.WebConsole;

/// <summary>POST /console/sign-out: ends the session in the database (on every host at once) and drops the cookie.</summary>
[ExcludeFromDescription] // a page for browsers, not part of the API's document
public static class SignOut
{
    public static void Configure(HttpChain chain) => chain.Metadata.RequireAuthorization(ConsoleAuthentication.Policy);

    [WolverinePost("/console/sign-out")]
    public static async Task<IResult> Handle(HttpContext http, ConsoleSessions sessions)
    {
        var form = http.Request.HasFormContentType ? await http.Request.ReadFormAsync(http.RequestAborted) : null;
        if (!ConsoleSessions.SameToken(form?["csrf"].FirstOrDefault(), http.User.FindFirstValue(ConsoleSessions.CsrfClaim)))
            return ConsoleHtml.Problem(http, 400, "This form has expired.", "Reload the page and sign out again.");
        await sessions.EndAsync(http.Request.Cookies[ConsoleSessions.CookieName]!, http.RequestAborted);
        http.Response.Cookies.Delete(ConsoleSessions.CookieName, ConsoleAuthentication.CookieOptions(http.Request));
        return SignIn.SeeOther(http, "/console/sign-in");
    }
}
