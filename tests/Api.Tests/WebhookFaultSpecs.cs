using System.Net;
using System.Text.Json.Nodes;
using Ledger.Testing;
using Shouldly;
using Xunit;

namespace Ledger.Api.Tests;

internal static class WebhookHosts
{
    /// <summary>Fast recovery (leases, sweep, heartbeats) and fast webhook retries, for a real host process.</summary>
    public static Dictionary<string, string> Settings() =>
        HostProcess.FastRecovery([.. WebhookSettings.Fast.Select(kv => (kv.Key, kv.Value))]);

    public static async Task<string> CreateEndpoint(HttpClient merchant, string url)
    {
        var created = await merchant.PostJson("/v1/webhook-endpoints",
            new JsonObject { ["url"] = url, ["events"] = new JsonArray("payment.succeeded", "payment.failed", "payment.refunded") });
        created.StatusCode.ShouldBe(HttpStatusCode.Created);
        return (await created.Json()).Str("id");
    }

    /// <summary>The event ids of every event a merchant sees in the log, as webhooks name them.</summary>
    public static async Task<HashSet<string>> VisibleEventsAsync(TestDatabase db) =>
        [.. await db.ScalarAsync<string[]>("""
            select coalesce(array_agg('evt_' || substr(stream_id, 5) || '_' || version), '{}') from ledger.events
            where type in ('payment_charged', 'payment_failed', 'payment_refunded')
            """)];
}

/// <summary>
/// The outbox through crashes: the real host SIGKILLed under load, again and again, between commits and deliveries.
/// Every event the log holds reaches the receiver (at least once: a receiver that de-duplicates by id sees each exactly
/// once), and nothing the log does not hold is ever sent.
/// </summary>
public sealed class WebhookKillLoopSpecs : IAsyncLifetime
{
    private readonly TestDatabase _db = new();
    private readonly WebhookReceiver _receiver = new();
    private HostProcess _host = null!;

    public async ValueTask InitializeAsync()
    {
        await _db.InitializeAsync();
        await _receiver.StartAsync();
        _host = new HostProcess(_db.ConnectionString, WebhookHosts.Settings());
    }

    [Fact]
    public async Task Hosts_killed_between_commit_and_delivery_lose_no_event_and_send_none_that_was_not_committed()
    {
        await _host.StartAsync();
        await WebhookHosts.CreateEndpoint(_host.Client(LedgerApp.Acme), _receiver.Url);
        var merchant = new CarefulMerchant(() => _host.Client(LedgerApp.Acme, TimeSpan.FromSeconds(10)), TimeSpan.FromSeconds(60));
        using var stop = new CancellationTokenSource();
        var load = merchant.RunAsync(workers: 6, stop.Token);
        var random = new Random(7);
        for (var kill = 0; kill < 4; kill++)
        {
            await Task.Delay(TimeSpan.FromMilliseconds(random.Next(700, 1800))); // the load runs a while before each kill
            await _host.KillAsync();
            await _host.StartAsync();
        }
        await stop.CancelAsync();
        await load;
        await _db.WaitUntil("select count(*) = 0 from payment_views where status = 'pending'");

        var logged = await WebhookHosts.VisibleEventsAsync(_db);
        logged.Count.ShouldBeGreaterThan(20);
        // A killed host's notifications are taken over once it is found dead (Ledger:Cluster:StaleAfter, 10 s here).
        await _receiver.WaitUntil(r => logged.IsSubsetOf(r.Where(x => x.AnsweredWith == 200).Select(x => x.EventId)),
            within: TimeSpan.FromSeconds(90), what: $"all {logged.Count} events of the log");
        var received = _receiver.Received.ToList();
        received.Select(r => r.EventId).ToHashSet().SetEquals(logged).ShouldBeTrue("every event sent is one the log holds");
        received.GroupBy(r => r.EventId).ShouldAllBe(g => g.Select(r => r.Body).Distinct().Count() == 1);
        TestContext.Current.TestOutputHelper?.WriteLine(
            $"webhook kill loop: 4 kills; {logged.Count} events in the log, all delivered; {received.Count - logged.Count} repeated deliveries (de-duplicated by id)");
    }

    public async ValueTask DisposeAsync()
    {
        await _host.DisposeAsync();
        await _receiver.DisposeAsync();
        await _db.DisposeAsync();
    }
}

/// <summary>PostgreSQL stopped while deliveries are under way (a cluster of the test's own): they resume when it is back.</summary>
public sealed class WebhookDatabaseOutageSpecs : IAsyncLifetime
{
    private readonly PostgresCluster _cluster = new(synchronousCommit: true);
    private readonly WebhookReceiver _receiver = new() { AnswerWith = 503 }; // failing while the charges are made
    private HostProcess _host = null!;
    private TestDatabase _db = null!;

    public async ValueTask InitializeAsync()
    {
        await _cluster.StartAsync();
        _db = TestDatabase.Existing(await _cluster.CreateDatabaseAsync());
        await _receiver.StartAsync();
        _host = new HostProcess(_db.ConnectionString, WebhookHosts.Settings());
    }

    [Fact]
    public async Task Deliveries_stopped_by_a_database_outage_resume_when_it_returns()
    {
        await _host.StartAsync();
        var client = _host.Client(LedgerApp.Acme);
        await WebhookHosts.CreateEndpoint(client, _receiver.Url);
        for (var i = 0; i < 30; i++) (await client.Charge()).StatusCode.ShouldBe(HttpStatusCode.Created);
        var logged = await WebhookHosts.VisibleEventsAsync(_db);
        logged.Count.ShouldBe(30);

        // The receiver recovers, slowly (300 ms a request, four at a time); PostgreSQL stops when a few have gone through.
        (_receiver.Delay, _receiver.AnswerWith) = (TimeSpan.FromMilliseconds(300), 200);
        await _receiver.WaitUntil(r => r.Count(x => x.AnsweredWith == 200) >= 3, what: "the first deliveries");
        await _cluster.StopAsync();
        _receiver.Accepted().Count.ShouldBeLessThan(30);
        await Task.Delay(TimeSpan.FromSeconds(3)); // the outage: the dispatcher cannot fetch, record or listen
        await _cluster.StartAsync();

        await _receiver.WaitUntil(r => logged.IsSubsetOf(r.Where(x => x.AnsweredWith == 200).Select(x => x.EventId)),
            within: TimeSpan.FromSeconds(60), what: "every charge after the outage");
        await _db.WaitUntil("select count(*) = 30 from webhook_deliveries where status = 'delivered'");
        _receiver.Received.Select(r => r.EventId).ToHashSet().SetEquals(logged).ShouldBeTrue();
    }

    public async ValueTask DisposeAsync()
    {
        await _host.DisposeAsync();
        await _receiver.DisposeAsync();
        await _cluster.DisposeAsync();
    }
}
