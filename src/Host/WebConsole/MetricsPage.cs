using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using Ledger.Domain.Money;
using Ledger.Host.Http;
using Ledger.Host.Reporting;
using Wolverine.Http;
using static Ledger.Host.WebConsole.ConsoleHtml;

namespace Ledger.Host.WebConsole;

/// <summary>
/// GET /console/metrics: GET /v1/metrics drawn. Per currency: the totals, then charts of charges and failures, net and
/// refunds per day, and failures by code (Chart.js, vendored in Assets/), each with its numbers in a table beside it.
/// Amounts stay integers of minor units all the way to the label, which console.js writes with the currency's decimals.
/// </summary>
[ExcludeFromDescription] // a page for browsers, not part of the API's document
public static class MetricsPage
{
    public static void Configure(HttpChain chain) => chain.Metadata.RequireAuthorization(ConsoleAuthentication.Policy);

    [WolverineGet("/console/metrics")]
    public static async Task<IResult> Handle(HttpContext http, ReadReplica reads)
    {
        return await reads.ReadAsync(http, async db =>
        {
            var report = await GetMetrics.ReportAsync(db, http.User.IsAuditor() ? null : http.User.MerchantId(), http.RequestAborted);
            var html = new StringBuilder("<h1>Metrics</h1>");
            if (report.Currencies.Count == 0) html.Append("<p class=\"empty\" role=\"status\">No payments yet.</p>");
            var data = new JsonArray();
            foreach (var c in report.Currencies)
            {
                var code = c.Currency;
                var exponent = Currency.TryFind(code, out var unit) ? unit.Exponent : 0;
                data.Add(new JsonObject
                {
                    ["currency"] = code,
                    ["exponent"] = exponent,
                    ["days"] = new JsonArray(c.Daily.Select(d => (JsonNode)d.Date.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture)).ToArray()),
                    ["succeeded"] = new JsonArray(c.Daily.Select(d => (JsonNode)d.PaymentsSucceeded).ToArray()),
                    ["failed"] = new JsonArray(c.Daily.Select(d => (JsonNode)d.PaymentsFailed).ToArray()),
                    ["net"] = new JsonArray(c.Daily.Select(d => (JsonNode)d.Net).ToArray()),
                    ["refunded"] = new JsonArray(c.Daily.Select(d => (JsonNode)d.Refunded).ToArray()),
                    ["failureCodes"] = new JsonArray(c.FailuresByCode.Keys.Select(k => (JsonNode)k).ToArray()),
                    ["failureCounts"] = new JsonArray(c.FailuresByCode.Values.Select(v => (JsonNode)v).ToArray()),
                });
                html.Append($"""
                    <section class="currency" aria-labelledby="m-{E(code)}"><h2 id="m-{E(code)}">{E(code)}</h2>
                    <dl class="totals">
                    <div><dt>Charged</dt><dd>{Money(c.GrossCharged, code)}</dd></div>
                    <div><dt>Refunded</dt><dd>{Money(c.Refunded, code)}</dd></div>
                    <div><dt>Net</dt><dd>{Money(c.Net, code)}</dd></div>
                    <div><dt>Succeeded</dt><dd>{c.PaymentsSucceeded:N0}</dd></div>
                    <div><dt>Failed</dt><dd>{c.PaymentsFailed:N0}</dd></div>
                    <div><dt>Refunds</dt><dd>{c.RefundsCount:N0}</dd></div>
                    </dl>
                    <div class="charts">
                    {Chart(code, "charges", $"Charges per day in {code}: succeeded and failed")}
                    {Chart(code, "net", $"Net per day in {code}")}
                    {Chart(code, "refunds", $"Refunded per day in {code}")}
                    {Chart(code, "failures", $"Failures by code in {code}")}
                    </div>
                    <details><summary>The numbers by day</summary>
                    <table><thead><tr><th scope="col">Day (UTC)</th><th scope="col" class="num">Succeeded</th><th scope="col" class="num">Failed</th>
                    <th scope="col" class="num">Charged</th><th scope="col" class="num">Refunded</th><th scope="col" class="num">Net</th></tr></thead><tbody>
                    {string.Concat(c.Daily.Select(d => $"<tr><td>{d.Date:yyyy-MM-dd}</td><td class=\"num\">{d.PaymentsSucceeded:N0}</td><td class=\"num\">{d.PaymentsFailed:N0}</td><td class=\"num\">{Money(d.GrossCharged, code)}</td><td class=\"num\">{Money(d.Refunded, code)}</td><td class=\"num\">{Money(d.Net, code)}</td></tr>"))}
                    </tbody></table>
                    <table><thead><tr><th scope="col">Failure code</th><th scope="col" class="num">Payments</th></tr></thead><tbody>
                    {(c.FailuresByCode.Count == 0 ? "<tr><td colspan=\"2\">No failures.</td></tr>" : string.Concat(c.FailuresByCode.Select(f => $"<tr><td><code>{E(f.Key)}</code></td><td class=\"num\">{f.Value:N0}</td></tr>")))}
                    </tbody></table></details>
                    </section>
                    """);
            }
            // Data for console.js: a JSON block, which the browser never runs (the policy allows no inline script); the default
            // encoder escapes <, > and &, so no value can close the block.
            html.Append($"<script type=\"application/json\" id=\"metrics-data\">{data.ToJsonString()}</script>");
            return Page(http, "Metrics", html.ToString(), "Metrics");
        });
    }

    private static string Chart(string currency, string kind, string label) =>
        $"""<figure class="chart"><canvas data-chart="{E(kind)}" data-currency="{E(currency)}" role="img" aria-label="{E(label)}; the numbers are in the table below"></canvas><figcaption>{E(label)}</figcaption></figure>""";
}
