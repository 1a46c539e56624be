using System.Diagnostics;
using System.Globalization;
using System.Text;
using Ledger.Domain.Money;
using Ledger.Host.Http;
using Ledger.Host.Payments;
using Wolverine.Http;
using static Ledger.Host.WebConsole.ConsoleHtml;

namespace Ledger.Host.WebConsole;

/// <summary>
/// GET /console/payments: the payments list with the API's filters (and an amount range), newest first, keyset-paged,
/// from the same statement and index as GET /v1/payments. The search box takes a payment id (it opens that payment) or
/// an order id. A malformed filter is a 400 page naming the field; it lists nothing.
/// </summary>
[ExcludeFromDescription] // a page for browsers, not part of the API's document
public static class PaymentsPage
{
    private const int PageSize = 25;
    private static readonly string[] Statuses = ["pending", "succeeded", "failed", "partially_refunded", "refunded"];

    public static void Configure(HttpChain chain) => chain.Metadata.RequireAuthorization(ConsoleAuthentication.Policy);

    [WolverineGet("/console/payments")]
    public static async Task<IResult> Handle(HttpContext http, ReadReplica reads)
    {
        var started = Stopwatch.GetTimestamp();
        var q = http.Request.Query;
        string? Value(string name) => q[name].FirstOrDefault() is { Length: > 0 } v ? v.Trim() : null;
        var (search, status, currency, from, to, min, max, after) =
            (Value("q"), Value("status"), Value("currency"), Value("from"), Value("to"), Value("min"), Value("max"), Value("after"));
        var errors = new Dictionary<string, string>();
        if (search is { Length: > 64 }) errors["q"] = "At most 64 characters.";
        if (status is not null && !Statuses.Contains(status)) errors["status"] = "Pick a status from the list.";
        Currency? unit = null;
        if (currency is not null && !Currency.TryFind(currency, out unit)) errors["currency"] = "Pick a currency from the list.";
        var fromTime = Day(from, "from", errors, TimeSpan.Zero);
        var toTime = Day(to, "to", errors, TimeSpan.FromDays(1) - TimeSpan.FromTicks(10)); // the whole day, to the microsecond
        long? Amount(string? text, string field)
        {
            if (text is null) return null;
            if (unit is null) { errors[field] = "Pick a currency to filter by amount."; return null; }
            if (unit.TryParseAmount(text, out var minor)) return minor;
            errors[field] = $"An amount in {unit.Code} with at most {unit.Exponent} decimals, e.g. {(unit.Exponent == 0 ? "1250" : "12." + new string('5', unit.Exponent))}.";
            return null;
        }
        var (minAmount, maxAmount) = (Amount(min, "min"), Amount(max, "max"));
        if (after is { Length: > 64 }) errors["after"] = "Not a payment id.";

        return await reads.ReadAsync(http, async db =>
        {
            var merchant = http.User.IsAuditor() ? null : http.User.MerchantId();
            var ct = http.RequestAborted;
            var form = Form(search, status, currency, from, to, min, max, errors);
            if (errors.Count > 0) return Page(http, "Payments", $"<h1>Payments</h1>{form}", "Payments", 400);

            string? orderId = null;
            if (search is not null)
            {
                if (search.StartsWith("pay_", StringComparison.Ordinal))
                    return await GetPayment.FindAsync(db, search, merchant, ct) is { } found
                        ? Results.Redirect($"/console/payments/{Uri.EscapeDataString(found.Id)}")
                        : Page(http, "Payments", $"<h1>Payments</h1>{form}<p class=\"empty\" role=\"status\">No payment {E(search)} for this account.</p>", "Payments", 404);
                orderId = search;
            }
            PaymentCursor? cursor = null;
            if (after is not null)
            {
                var last = await GetPayment.FindAsync(db, after, merchant, ct);
                if (last is null) return Page(http, "Payments", $"<h1>Payments</h1>{form}<p class=\"error\" role=\"alert\">That page no longer exists; start from the first.</p>", "Payments", 400);
                cursor = new PaymentCursor(last.CreatedAt, last.Id);
            }
            await using var cmd = ListPayments.Command(db, new PaymentFilter(merchant, status, orderId, currency, fromTime, toTime, cursor, PageSize + 1, minAmount, maxAmount));
            var rows = new List<PaymentResource>(PageSize + 1);
            await using (var reader = await cmd.ExecuteReaderAsync(ct))
                while (await reader.ReadAsync(ct)) rows.Add(PaymentResource.FromRow(reader));
            var queried = Stopwatch.GetElapsedTime(started);

            var hasMore = rows.Count > PageSize;
            if (hasMore) rows.RemoveAt(PageSize);
            var html = new StringBuilder($"<h1>Payments</h1>{form}");
            if (rows.Count == 0) html.Append("<p class=\"empty\" role=\"status\">No payments match.</p>");
            else
            {
                var auditor = merchant is null;
                html.Append($"""
                    <table class="payments"><caption class="visually-hidden">Payments, newest first</caption>
                    <thead><tr><th scope="col">Created</th><th scope="col">Payment</th>{(auditor ? "<th scope=\"col\">Merchant</th>" : "")}<th scope="col">Order</th>
                    <th scope="col" class="num">Amount</th><th scope="col">Status</th><th scope="col" class="num">Refunded</th></tr></thead><tbody>
                    """);
                foreach (var p in rows)
                    html.Append($"""
                        <tr><td class="when">{When(p.CreatedAt)}</td><td><a href="/console/payments/{U(p.Id)}">{E(p.Id)}</a></td>{(auditor ? $"<td>{E(p.MerchantId)}</td>" : "")}
                        <td>{E(p.OrderId)}</td><td class="num">{Money(p.Amount, p.Currency)}</td><td>{Status(p.Status)}</td><td class="num">{(p.AmountRefunded > 0 ? Money(p.AmountRefunded, p.Currency) : "")}</td></tr>
                        """);
                html.Append("</tbody></table>");
            }
            var filters = Query(("q", search), ("status", status), ("currency", currency), ("from", from), ("to", to), ("min", min), ("max", max));
            html.Append("<nav class=\"pager\" aria-label=\"Pages\">");
            if (after is not null) html.Append($"<a href=\"/console/payments{(filters.Length > 0 ? "?" + filters : "")}\">First page</a>");
            if (hasMore) html.Append($"<a rel=\"next\" href=\"/console/payments?{(filters.Length > 0 ? filters + "&amp;" : "")}after={U(rows[^1].Id)}\">Next page</a>");
            html.Append("</nav>");
            // The server's time for the page, for the console's speed target (docs/console.md): the query, then the whole.
            http.Response.Headers["Server-Timing"] = string.Create(CultureInfo.InvariantCulture,
                $"db;dur={queried.TotalMilliseconds:0.0}, page;dur={Stopwatch.GetElapsedTime(started).TotalMilliseconds:0.0}");
            return Page(http, "Payments", html.ToString(), "Payments");
        });
    }

    private static DateTimeOffset? Day(string? text, string field, Dictionary<string, string> errors, TimeSpan offset)
    {
        if (text is null) return null;
        if (DateOnly.TryParseExact(text, "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.None, out var day))
            return new DateTimeOffset(day.ToDateTime(TimeOnly.MinValue), TimeSpan.Zero) + offset;
        errors[field] = "A date as YYYY-MM-DD.";
        return null;
    }

    private static string Query(params (string Name, string? Value)[] pairs) =>
        string.Join("&amp;", pairs.Where(p => p.Value is not null).Select(p => $"{p.Name}={U(p.Value)}"));

    private static string Form(string? search, string? status, string? currency, string? from, string? to, string? min, string? max,
        Dictionary<string, string> errors)
    {
        string Field(string name, string label, string input) =>
            $"""<div class="field{(errors.ContainsKey(name) ? " invalid" : "")}"><label for="f-{name}">{label}</label>{input}{(errors.TryGetValue(name, out var e) ? $"<span class=\"error\" id=\"f-{name}-error\">{E(e)}</span>" : "")}</div>""";
        string Described(string name) => errors.ContainsKey(name) ? $" aria-invalid=\"true\" aria-describedby=\"f-{name}-error\"" : "";
        string Options(IEnumerable<string> values, string? chosen, string any) =>
            $"<option value=\"\">{any}</option>" + string.Concat(values.Select(v => $"<option value=\"{E(v)}\"{(v == chosen ? " selected" : "")}>{E(v.Replace('_', ' '))}</option>"));
        return $"""
            <form class="filters" method="get" action="/console/payments" role="search">
            {Field("q", "Payment id or order id", $"<input id=\"f-q\" name=\"q\" type=\"search\" value=\"{E(search)}\" maxlength=\"64\"{Described("q")}>")}
            {Field("status", "Status", $"<select id=\"f-status\" name=\"status\"{Described("status")}>{Options(Statuses, status, "any")}</select>")}
            {Field("currency", "Currency", $"<select id=\"f-currency\" name=\"currency\"{Described("currency")}>{Options(Currency.All.Select(c => c.Code).Order(StringComparer.Ordinal), currency, "any")}</select>")}
            {Field("from", "Created from", $"<input id=\"f-from\" name=\"from\" type=\"date\" value=\"{E(from)}\"{Described("from")}>")}
            {Field("to", "Created to", $"<input id=\"f-to\" name=\"to\" type=\"date\" value=\"{E(to)}\"{Described("to")}>")}
            {Field("min", "Amount from", $"<input id=\"f-min\" name=\"min\" inputmode=\"decimal\" value=\"{E(min)}\" size=\"10\"{Described("min")}>")}
            {Field("max", "Amount to", $"<input id=\"f-max\" name=\"max\" inputmode=\"decimal\" value=\"{E(max)}\" size=\"10\"{Described("max")}>")}
            <div class="actions"><button type="submit">Search</button> <a href="/console/payments">Clear</a></div>
            </form>
            """;
    }
}
