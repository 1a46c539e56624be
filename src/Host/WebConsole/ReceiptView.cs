using System.Security.Cryptography;
using System.Text;
using Ledger.Host.Http;
using Ledger.Host.Payments;
using Wolverine.Http;

namespace Ledger.Host.WebConsole;

/// <summary>
/// GET /console/payments/{id}/receipt: the printable receipt the API serves for Accept: text/html, for a signed-in
/// browser. The page is self-contained with one &lt;style&gt; block, which the policy allows by its hash alone.
/// </summary>
[ExcludeFromDescription] // a page for browsers, not part of the API's document
public static class ReceiptView
{
    public static void Configure(HttpChain chain) => chain.Metadata.RequireAuthorization(ConsoleAuthentication.Policy);

    [WolverineGet("/console/payments/{id}/receipt")]
    public static async Task<IResult> Handle(string id, HttpContext http, ReadReplica reads, IConfiguration configuration)
    {
        return await reads.ReadAsync(http, async db =>
        {
            var receipt = await GetReceipt.FindAsync(db, id, http.User.IsAuditor() ? null : http.User.MerchantId(), http.RequestAborted)
                ?? throw new ApiProblem(404, "payment_not_found", "Receipt not found.", "No succeeded payment with that id exists for this account.");
            var html = await ReceiptPage.RenderAsync(db, receipt, ReceiptPage.DisplayName(configuration, receipt.MerchantId), http.RequestAborted);
            var style = html[(html.IndexOf("<style>", StringComparison.Ordinal) + 7)..html.IndexOf("</style>", StringComparison.Ordinal)];
            http.Response.Headers.ContentSecurityPolicy = ConsoleSetup.ContentSecurityPolicy.Replace(
                "style-src 'self'", $"style-src 'sha256-{Convert.ToBase64String(SHA256.HashData(Encoding.UTF8.GetBytes(style)))}'", StringComparison.Ordinal);
            return Results.Content(html, "text/html; charset=utf-8");
        });
    }
}
