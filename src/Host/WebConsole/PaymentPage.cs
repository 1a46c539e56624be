using System.Globalization;
using System.Text;
using Ledger.Domain.Payments;
using Ledger.EventStore;
using Ledger.Host.Auditing;
using Ledger.Host.Http;
using Ledger.Host.Payments;
using Wolverine.Http;
using static Ledger.Domain.Payments.PaymentEvent;
using static Ledger.Host.WebConsole.ConsoleHtml;

namespace Ledger.Host.WebConsole;

/// <summary>
/// GET /console/payments/{id}[?asOf=N]: a payment folded from its own events (now, or as of its N-th event), its refunds,
/// a link to its receipt, and its timeline: every event with time, actor, correlation id, version and hash. Another
/// merchant's payment is a 404, as in the API.
/// </summary>
[ExcludeFromDescription] // a page for browsers, not part of the API's document
public static class PaymentPage
{
    public static void Configure(HttpChain chain) => chain.Metadata.RequireAuthorization(ConsoleAuthentication.Policy);

    [WolverineGet("/console/payments/{id}")]
    public static async Task<IResult> Handle(string id, HttpContext http, EventLog<PaymentEvent> store)
    {
        var query = new Query(http.Request);
        var asOf = query.Long("asOf", min: 1);
        query.ThrowIfInvalid();
        var events = await GetStreamEvents.ReadVisibleAsync(store, id, http, toVersion: null, toTime: null);
        if (asOf > events.Count)
            return Problem(http, 400, "No such event.", $"This payment has {events.Count} events; pick one of them.");
        var shown = asOf is { } n ? events.Take((int)n).ToList() : events;
        var payment = Payment.Fold(shown.Select(e => e.Data))!;

        var html = new StringBuilder();
        html.Append($"""
            <p class="crumbs"><a href="/console/payments">Payments</a> / <span>{E(payment.Id)}</span></p>
            <h1>{Money(payment.Amount, payment.Currency)} <span class="muted">for order</span> {E(payment.OrderId)} {Status(payment.Status.Name())}</h1>
            """);
        if (asOf is not null)
            html.Append($"""
                <p class="as-of" role="status">As of event {shown.Count} of {events.Count} ({E(shown[^1].Type)}, {When(shown[^1].OccurredAt)}).
                <a href="/console/payments/{U(payment.Id)}">Back to now</a></p>
                """);
        html.Append($"""
            <section aria-labelledby="details"><h2 id="details">Details</h2><dl class="facts">
            <dt>Payment</dt><dd><code>{E(payment.Id)}</code></dd>
            {(http.User.IsAuditor() ? $"<dt>Merchant</dt><dd>{E(payment.MerchantId)}</dd>" : "")}
            <dt>Amount</dt><dd>{Money(payment.Amount, payment.Currency)} ({E(payment.Currency)})</dd>
            <dt>Refunded</dt><dd>{Money(payment.AmountRefunded, payment.Currency)}, refundable {Money(payment.AmountRefundable, payment.Currency)}</dd>
            <dt>Card</dt><dd>{E(ReceiptPage.Brand(payment.Card.Brand))} ending in {E(payment.Card.Last4)}, expires {payment.Card.ExpMonth:00}/{payment.Card.ExpYear}</dd>
            <dt>Created</dt><dd>{When(payment.CreatedAt)}</dd>
            <dt>Updated</dt><dd>{When(payment.UpdatedAt)}</dd>
            {(payment.Description is { } d ? $"<dt>Description</dt><dd>{E(d)}</dd>" : "")}
            {(payment.FailureCode is { } code ? $"<dt>Failure</dt><dd><code>{E(code)}</code> {E(payment.FailureMessage)}</dd>" : "")}
            {string.Concat(payment.Metadata.OrderBy(m => m.Key, StringComparer.Ordinal).Select(m => $"<dt>Metadata: {E(m.Key)}</dt><dd>{E(m.Value)}</dd>"))}
            <dt>Receipt</dt><dd>{(payment.IsCharged && payment.ReceiptNumber is { } number
                ? $"<a href=\"/console/payments/{U(payment.Id)}/receipt\">{E(number)}</a>" : "none (the payment has not succeeded)")}</dd>
            </dl></section>
            """);

        var refunds = shown.Select(e => e.Data).OfType<PaymentRefunded>().ToList();
        html.Append("<section aria-labelledby=\"refunds\"><h2 id=\"refunds\">Refunds</h2>");
        if (refunds.Count == 0) html.Append("<p class=\"empty\">No refunds.</p>");
        else
        {
            html.Append("<table class=\"refunds\"><thead><tr><th scope=\"col\">Refund</th><th scope=\"col\">When</th><th scope=\"col\" class=\"num\">Amount</th><th scope=\"col\">Reason</th></tr></thead><tbody>");
            foreach (var r in refunds)
                html.Append($"<tr><td><code>{E(r.RefundId)}</code></td><td class=\"when\">{When(r.At)}</td><td class=\"num\">{Money(r.Amount, r.Currency)}</td><td>{E(r.Reason.Replace('_', ' '))}</td></tr>");
            html.Append("</tbody></table>");
        }
        html.Append("</section>");

        html.Append("""
            <section aria-labelledby="timeline"><h2 id="timeline">Timeline</h2>
            <p class="muted">Every event of this payment, oldest first, as stored. Each hash chains the one before it (docs/events.md);
            pick an event to see the payment as it was then.</p>
            <table class="timeline"><thead><tr><th scope="col" class="num">Version</th><th scope="col">Time</th><th scope="col">Event</th>
            <th scope="col">Actor</th><th scope="col">Correlation id</th><th scope="col">Hash</th><th scope="col">Time travel</th></tr></thead><tbody>
            """);
        foreach (var e in events)
        {
            var hash = Convert.ToHexStringLower(e.Hash);
            var here = e.Version == (asOf ?? events[^1].Version);
            html.Append($"""
                <tr{(here ? " aria-current=\"true\" class=\"current\"" : "")}><td class="num">{e.Version.ToString(CultureInfo.InvariantCulture)}</td>
                <td class="when">{E(HashChain.Time(e.OccurredAt))}</td><td><code>{E(e.Type)}</code>{Summary(e.Data)}</td>
                <td>{E(e.Metadata.Actor ?? "")}</td><td><code>{E(e.Metadata.CorrelationId ?? "")}</code></td>
                <td><code class="hash" title="{E(hash)}">{E(hash[..16])}…</code></td>
                <td>{(here ? "shown" : $"<a href=\"/console/payments/{U(payment.Id)}?asOf={e.Version.ToString(CultureInfo.InvariantCulture)}\">as of version {e.Version.ToString(CultureInfo.InvariantCulture)}</a>")}</td></tr>
                """);
        }
        html.Append("</tbody></table></section>");
        return Page(http, $"Payment {payment.Id}", html.ToString(), "Payments");
    }

    private static string Summary(PaymentEvent e) => e switch
    {
        PaymentRequested r => $"<br><span class=\"muted\">{Money(r.Amount, r.Currency)} requested</span>",
        PaymentCharged c => $"<br><span class=\"muted\">{Money(c.Amount, c.Currency)} charged, receipt {E(c.ReceiptNumber)}</span>",
        PaymentFailed f => $"<br><span class=\"muted\">{E(f.FailureCode)}</span>",
        PaymentRefunded r => $"<br><span class=\"muted\">{Money(r.Amount, r.Currency)} refunded</span>",
        _ => "",
    };
}
