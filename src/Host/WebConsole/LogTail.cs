using System.Globalization;
using Ledger.Domain.Payments;
using Ledger.EventStore;
using Npgsql;
using Wolverine.Http;
using static Ledger.Host.WebConsole.ConsoleHtml;

namespace Ledger.Host.WebConsole;

/// <summary>
/// GET /console/operations/log?after=N (auditors): the global log's rows after sequence N as table rows, for the
/// operations page's live tail (console.js polls it). The same commit-safe read as GET /v1/events: a late commit is
/// never skipped. Answers JSON: { "after": next position, "rows": HTML of the rows, newest first }.
/// </summary>
[ExcludeFromDescription] // a page for browsers, not part of the API's document
public static class LogTail
{
    public const int Rows = 20;

    public static void Configure(HttpChain chain) => chain.Metadata.RequireAuthorization(ConsoleAuthentication.AuditorPolicy);

    [WolverineGet("/console/operations/log")]
    public static async Task<IResult> Handle(HttpContext http, EventLog<PaymentEvent> store)
    {
        var query = new Http.Query(http.Request);
        var after = query.Long("after", min: 0) ?? 0;
        query.ThrowIfInvalid();
        var page = await store.ReadAllAsync(after, 100, http.RequestAborted);
        var body = new System.Text.Json.Nodes.JsonObject
        {
            ["after"] = page.NextAfter,
            ["rows"] = string.Concat(page.Events.Reverse().Select(Row)),
        };
        return Results.Text(body.ToJsonString(), "application/json");
    }

    public static string Row(StoredEvent<PaymentEvent> e) => $"""
        <tr><td class="num">{e.Sequence.ToString(CultureInfo.InvariantCulture)}</td><td class="when">{When(e.OccurredAt)}</td><td><code>{E(e.Type)}</code></td>
        <td><a href="/console/payments/{U(e.StreamId)}">{E(e.StreamId)}</a></td><td class="num">{e.Version.ToString(CultureInfo.InvariantCulture)}</td><td>{E(e.Metadata.Actor)}</td></tr>
        """;

    /// <summary>The newest sequence number (committed or not): where the tail starts looking back from.</summary>
    public static async Task<long> HeadAsync(NpgsqlDataSource db, CancellationToken ct)
    {
        await using var cmd = db.CreateCommand("select coalesce(max(sequence), 0) from ledger.events");
        return (long)(await cmd.ExecuteScalarAsync(ct))!;
    }
}
