using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace Ledger.Bench;

/// <summary>
/// Issue 14's scenario, the "on" side: a webhook receiver in this process (Kestrel on loopback, answering 204 at once),
/// two endpoints per merchant registered with the ledger for every event type, and afterwards every delivery waited
/// for. The lag of each delivery is when it arrived minus the event's createdAt (the host's clock when it decided the
/// outcome, just before the commit; one machine, one clock).
/// </summary>
public sealed class WebhookReceiver : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly ConcurrentBag<(string EventId, string Path, DateTimeOffset CreatedAt, double LagMs)> _received = [];
    private readonly List<(string ApiKey, string Id)> _endpoints = [];
    public int Port { get; }

    private WebhookReceiver(WebApplication app, int port) => (_app, Port) = (app, port);

    public static async Task<WebhookReceiver> StartAsync()
    {
        var port = FreePort();
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls($"http://127.0.0.1:{port}");
        builder.Logging.ClearProviders();
        var app = builder.Build();
        var receiver = new WebhookReceiver(app, port);
        app.MapPost("/hooks/{name}", async (string name, HttpContext http) =>
        {
            using var body = await JsonDocument.ParseAsync(http.Request.Body);
            var created = body.RootElement.GetProperty("createdAt").GetDateTimeOffset();
            receiver._received.Add((body.RootElement.GetProperty("id").GetString()!, name, created, (DateTimeOffset.UtcNow - created).TotalMilliseconds));
            return Results.NoContent();
        });
        await app.StartAsync();
        return receiver;
    }

    /// <summary>Two endpoints (a and b) for each merchant, every event type.</summary>
    public async Task RegisterAsync(Api api, IReadOnlyList<string> merchantKeys)
    {
        foreach (var key in merchantKeys)
            foreach (var name in new[] { "a", "b" })
            {
                var json = $$"""{"url":"http://127.0.0.1:{{Port}}/hooks/{{name}}","events":["payment.succeeded","payment.failed","payment.refunded"]}""";
                var answer = await api.PostAsync("/v1/webhook-endpoints", key, $"bench-{Guid.NewGuid():N}", json, CancellationToken.None);
                if (answer.Status != 201) throw new InvalidOperationException($"could not register a webhook endpoint: {answer.Status} {answer.Body}");
                _endpoints.Add((key, Scenarios.Field(answer.Body, "id")!));
            }
    }

    /// <summary>
    /// Waits until one of the hosts runs the webhook dispatcher (a Wolverine agent the leader assigns a few seconds after a
    /// start): until then deliveries wait, which is a start-up's lag, not the load's.
    /// </summary>
    public static async Task WaitForDispatcherAsync(string connectionString, TimeSpan within)
    {
        await using var db = NpgsqlDataSource.Create(connectionString);
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < within)
        {
            await using var cmd = db.CreateCommand("select exists (select 1 from wolverine.wolverine_node_assignments where id like 'ledger-webhooks:%')");
            if ((bool)(await cmd.ExecuteScalarAsync())!) return;
            await Task.Delay(100);
        }
        throw new TimeoutException("No host runs the webhook dispatcher.");
    }

    /// <summary>Waits until no delivery is pending (or the deadline), then says how it went; the lag of events made from <paramref name="measuredFrom"/> on.</summary>
    public async Task<string> DrainAsync(string connectionString, TimeSpan within, DateTimeOffset measuredFrom)
    {
        var clock = Stopwatch.StartNew();
        await using var db = NpgsqlDataSource.Create(connectionString);
        long pending = -1, delivered = 0, dead = 0;
        while (clock.Elapsed < within)
        {
            await using var cmd = db.CreateCommand(
                "select count(*) filter (where status = 'pending'), count(*) filter (where status = 'delivered'), count(*) filter (where status = 'dead') from webhook_deliveries");
            await using var r = await cmd.ExecuteReaderAsync();
            await r.ReadAsync();
            (pending, delivered, dead) = (r.GetInt64(0), r.GetInt64(1), r.GetInt64(2));
            if (pending == 0) break;
            await Task.Delay(200);
        }
        var measured = _received.Where(x => x.CreatedAt >= measuredFrom).ToList();
        var lags = measured.Select(x => x.LagMs).Order().ToArray();
        static double P(double[] sorted, double p) =>
            sorted.Length == 0 ? double.NaN : sorted[Math.Clamp((int)Math.Ceiling(p / 100 * sorted.Length) - 1, 0, sorted.Length - 1)];
        // From the commit (issue 14's "commit to delivery"), where PostgreSQL keeps commit times (track_commit_timestamp,
        // which bench/run.sh turns on for this scenario): the event's createdAt is before its commit, by the commit's time.
        var commits = new Dictionary<string, DateTimeOffset>();
        try
        {
            await using var cmd = db.CreateCommand(
                "select 'evt_' || substr(stream_id, 5) || '_' || version, pg_xact_commit_timestamp(xmin) from ledger.mt_events where version > 1 and pg_xact_commit_timestamp(xmin) is not null");
            await using var r = await cmd.ExecuteReaderAsync();
            while (await r.ReadAsync()) commits[r.GetString(0)] = r.GetFieldValue<DateTimeOffset>(1);
        }
        catch (PostgresException) { /* track_commit_timestamp is off */ }
        var fromCommit = measured.Where(x => commits.ContainsKey(x.EventId))
            .Select(x => x.LagMs - (commits[x.EventId] - x.CreatedAt).TotalMilliseconds).Order().ToArray();
        var distinct = _received.Select(x => (x.EventId, x.Path)).Distinct().Count();
        return FormattableString.Invariant(
            $"webhooks: {delivered} deliveries delivered, {pending} pending, {dead} dead after {clock.Elapsed.TotalSeconds:F1} s of draining; the receiver got {_received.Count} requests ({distinct} distinct event x endpoint); lag of the measured window's {lags.Length} deliveries, from the event's createdAt: p50 {P(lags, 50):F0} ms, p99 {P(lags, 99):F0} ms, max {P(lags, 100):F0} ms")
            + (fromCommit.Length == 0 ? "" : FormattableString.Invariant(
                $"; from its commit: p50 {P(fromCommit, 50):F0} ms, p99 {P(fromCommit, 99):F0} ms, max {P(fromCommit, 100):F0} ms"));
    }

    public async Task UnregisterAsync(Api api)
    {
        foreach (var (key, id) in _endpoints) await api.DeleteAsync($"/v1/webhook-endpoints/{id}", key, CancellationToken.None);
    }

    private static int FreePort()
    {
        using var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        return ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
