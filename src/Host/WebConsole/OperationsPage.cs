using System.Globalization;
using System.Text;
using Ledger.Domain.Payments;
using Ledger.EventStore;
using Ledger.EventStore.Audit;
using Ledger.Host.Payments;
using Ledger.Host.Reporting;
using Microsoft.Extensions.Options;
using Npgsql;
using Wolverine.Http;
using static Ledger.Host.WebConsole.ConsoleHtml;

namespace Ledger.Host.WebConsole;

/// <summary>
/// GET /console/operations (auditors): is anything behind or stuck? The projections with rows, position and lag; the
/// pending payments the sweep has to resolve; webhook deliveries failing or dead-lettered; the latest signed checkpoint;
/// and a live tail of the global log (console.js polls <see cref="LogTail"/>). Read from the primary: this is the truth
/// an operator acts on.
/// </summary>
[ExcludeFromDescription] // a page for browsers, not part of the API's document
public static class OperationsPage
{
    public static void Configure(HttpChain chain) => chain.Metadata.RequireAuthorization(ConsoleAuthentication.AuditorPolicy);

    [WolverineGet("/console/operations")]
    public static async Task<IResult> Handle(HttpContext http, NpgsqlDataSource db, LogDigest digest, EventLog<PaymentEvent> store, IOptions<SweepOptions> sweep)
    {
        var ct = http.RequestAborted;
        var html = new StringBuilder("<h1>Operations</h1>");

        html.Append("""
            <section aria-labelledby="projections"><h2 id="projections">Projections</h2>
            <p class="muted">All inline: written in the append's transaction, so none lags what has committed.</p>
            <table><thead><tr><th scope="col">Projection</th><th scope="col">Tables</th><th scope="col" class="num">Rows</th>
            <th scope="col" class="num">Position</th><th scope="col" class="num">Lag</th><th scope="col">Last rebuild</th></tr></thead><tbody>
            """);
        foreach (var p in await ProjectionStatus.ReadAsync(db, ct))
            html.Append($"""
                <tr><td>{E(p.Name)}</td><td>{E(string.Join(", ", p.Tables))}</td><td class="num">{p.Rows:N0}</td><td class="num">{p.Position:N0}</td>
                <td class="num">0{(p.InFlight > 0 ? $" (+{p.InFlight:N0} in flight)" : "")}</td>
                <td>{(p.LastRebuild is { } r ? $"{When(r.At)}, {r.Events:N0} events at {r.EventsPerSecond:N0}/s" : "never")}</td></tr>
                """);
        html.Append("</tbody></table></section>");

        await using (var cmd = db.CreateCommand("""
            select count(*), count(*) filter (where created_at < now() - $1::interval), min(created_at)
            from payment_views where status = 'pending'
            """))
        {
            cmd.Parameters.Add(new NpgsqlParameter { Value = sweep.Value.PendingAfter });
            await using var reader = await cmd.ExecuteReaderAsync(ct);
            await reader.ReadAsync(ct);
            var (pending, due, oldest) = (reader.GetInt64(0), reader.GetInt64(1), reader.IsDBNull(2) ? (DateTime?)null : reader.GetDateTime(2));
            html.Append($"""
                <section aria-labelledby="sweep"><h2 id="sweep">Pending sweep</h2>
                <p><strong id="pending-count">{pending:N0}</strong> payments pending, <strong>{due:N0}</strong> of them older than
                {Span(sweep.Value.PendingAfter)}, which the sweep resolves every {Span(sweep.Value.Interval)}.
                {(oldest is { } o ? $"Oldest: {When(o)}." : "")}</p></section>
                """);
        }

        html.Append("<section aria-labelledby=\"webhooks\"><h2 id=\"webhooks\">Webhook deliveries</h2>");
        await using (var cmd = db.CreateCommand("""
            select d.id, d.merchant_id, e.url, d.event_type, d.payment_id, d.status, d.attempt_count, d.last_status_code, d.last_error,
                   d.next_attempt_at, d.created_at,
                   count(*) filter (where d.status = 'pending') over (), count(*) filter (where d.status = 'dead') over ()
            from webhook_deliveries d join webhook_endpoints e on e.id = d.endpoint_id
            where d.status = 'dead' or (d.status = 'pending' and d.attempt_count > 0)
            order by d.created_at desc limit 20
            """))
        {
            await using var reader = await cmd.ExecuteReaderAsync(ct);
            var rows = new StringBuilder();
            long failing = 0, dead = 0;
            while (await reader.ReadAsync(ct))
            {
                (failing, dead) = (reader.GetInt64(11), reader.GetInt64(12));
                rows.Append($"""
                    <tr><td><code>{E(reader.GetString(0))}</code></td><td>{E(reader.GetString(1))}</td><td>{E(reader.GetString(2))}</td>
                    <td>{E(reader.GetString(3))}</td><td><a href="/console/payments/{U(reader.GetString(4))}">{E(reader.GetString(4))}</a></td>
                    <td>{Status(reader.GetString(5) == "dead" ? "dead" : "failing")}</td><td class="num">{reader.GetInt32(6)}</td>
                    <td>{(reader.IsDBNull(7) ? "no answer" : reader.GetInt32(7).ToString(CultureInfo.InvariantCulture))}{(reader.IsDBNull(8) ? "" : $": {E(reader.GetString(8))}")}</td>
                    <td>{(reader.IsDBNull(9) ? "" : When(reader.GetDateTime(9)))}</td></tr>
                    """);
            }
            if (rows.Length == 0) html.Append("<p class=\"empty\" id=\"webhooks-ok\">No delivery is failing or dead-lettered.</p>");
            else html.Append($"""
                <p>{failing:N0} failing (retrying), {dead:N0} dead-lettered; the newest 20:</p>
                <table class="deliveries"><thead><tr><th scope="col">Delivery</th><th scope="col">Merchant</th><th scope="col">Endpoint</th><th scope="col">Event</th>
                <th scope="col">Payment</th><th scope="col">State</th><th scope="col" class="num">Attempts</th><th scope="col">Last answer</th>
                <th scope="col">Next attempt</th></tr></thead><tbody>{rows}</tbody></table>
                """);
        }
        html.Append("</section>");

        var checkpoint = await digest.CheckpointAsync(null, ct);
        html.Append($"""
            <section aria-labelledby="checkpoint"><h2 id="checkpoint">Latest signed checkpoint</h2>
            {(checkpoint is null ? "<p class=\"empty\">None signed yet.</p>" : $"""
                <dl class="facts"><dt>Events</dt><dd>{checkpoint.EventCount:N0} (to sequence {checkpoint.Position:N0})</dd>
                <dt>Signed</dt><dd>{When(checkpoint.At)}</dd><dt>Key</dt><dd><code>{E(checkpoint.KeyId)}</code></dd>
                <dt>Root</dt><dd><code class="hash">{E(checkpoint.Root)}</code></dd></dl>
                """)}
            </section>
            """);

        var head = await LogTail.HeadAsync(db, ct);
        var recent = await store.ReadAllAsync(Math.Max(0, head - LogTail.Rows), LogTail.Rows, ct);
        html.Append($"""
            <section aria-labelledby="tail"><h2 id="tail">The global log, live</h2>
            <p class="muted" id="tail-status" role="status" aria-live="polite">Newest first; new events appear as they commit.</p>
            <table id="log-tail" data-after="{recent.NextAfter.ToString(CultureInfo.InvariantCulture)}"><thead><tr><th scope="col" class="num">Sequence</th>
            <th scope="col">Time</th><th scope="col">Event</th><th scope="col">Payment</th><th scope="col" class="num">Version</th><th scope="col">Actor</th></tr></thead>
            <tbody>{string.Concat(recent.Events.Reverse().Select(LogTail.Row))}</tbody></table></section>
            """);
        return Page(http, "Operations", html.ToString(), "Operations");
    }

    private static string Span(TimeSpan span) => span < TimeSpan.FromSeconds(1)
        ? $"{span.TotalMilliseconds:N0} ms"
        : span < TimeSpan.FromMinutes(2) ? $"{span.TotalSeconds:N0} s" : $"{span.TotalMinutes:N0} min";
}
