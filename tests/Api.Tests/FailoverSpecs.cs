using System.Diagnostics;
using System.Net;
using Ledger.Host.Cli;
using Ledger.Testing;
using Shouldly;
using Xunit;

namespace Ledger.Api.Tests;

/// <summary>
/// Issue 20: the ledger on PostgreSQL with automatic failover (pg_auto_failover, synchronous replication), its primary
/// killed under load. One cluster for the class; each spec leaves both nodes healthy.
/// </summary>
public sealed class FailoverSpecs : IAsyncLifetime
{
    private readonly AutoFailover _cluster = new();
    private HostProcess _host = null!;
    private TestDatabase _db = null!;

    public async ValueTask InitializeAsync()
    {
        if (!AutoFailover.Installed) return;
        await _cluster.StartAsync();
        _db = TestDatabase.Existing(_cluster.ConnectionString);
        _host = new HostProcess(_cluster.ConnectionString, HostProcess.FastRecovery(("Ledger:Database:SynchronousStandby", "expected")));
        await _host.StartAsync();
    }

    /// <summary>Each step with its time, in the test's output: where a slow or stuck run spent its time.</summary>
    private static void Trace(string what) => TestContext.Current.TestOutputHelper?.WriteLine($"{DateTime.UtcNow:HH:mm:ss.fff} {what}");

    private static void SkipUnlessInstalled()
    {
        if (!AutoFailover.Installed) Assert.Skip("pg_auto_failover is not installed and `make test` could not install it (scripts/ha.sh ensure)");
    }

    [Fact]
    public async Task Five_primary_kills_under_load_lose_no_acknowledged_payment_and_charge_nothing_twice()
    {
        SkipUnlessInstalled();
        var merchant = new CarefulMerchant(() => _host.Client(LedgerApp.Acme, TimeSpan.FromSeconds(10)), TimeSpan.FromSeconds(90));
        using var stop = new CancellationTokenSource();
        var load = merchant.RunAsync(workers: 3, stop.Token);
        var failovers = new List<(string Killed, double FirstChargeSeconds)>();
        using var probe = _host.Client(LedgerApp.Acme, TimeSpan.FromSeconds(5));
        for (var run = 0; run < 5; run++)
        {
            var before = merchant.Charged.Count;
            await Waiting.Until(() => merchant.Charged.Count >= before + 10, TimeSpan.FromSeconds(60), "10 more charges before the kill");
            var primary = await _cluster.PrimaryAsync();
            Trace($"run {run}: killing {primary} after {merchant.Charged.Count} charges");
            await _cluster.KillAsync(primary);
            var clock = Stopwatch.StartNew();
            // No node accepts writes until the monitor has promoted the standby (2 s at the least): not ready meanwhile.
            // (The killed postmaster's backends may answer a query or two before they notice, hence a look each round.)
            var notReady = false;
            // The first charge to succeed after the kill: a new key every 100 ms, each sent once.
            while (true)
            {
                clock.Elapsed.ShouldBeLessThan(TimeSpan.FromSeconds(60), $"no charge succeeded within 60 s of killing {primary}:\n{await _cluster.StateAsync()}");
                notReady |= (await probe.GetAsync("/health/ready")).StatusCode == HttpStatusCode.ServiceUnavailable;
                var answer = await TryCharge(probe);
                if (answer == HttpStatusCode.Created) break;
                (answer is null or HttpStatusCode.ServiceUnavailable or HttpStatusCode.Conflict).ShouldBeTrue($"a probe charge answered {answer}\n{_host.ErrorOutput}");
                await Task.Delay(100);
            }
            failovers.Add((primary, clock.Elapsed.TotalSeconds));
            notReady.ShouldBeTrue("/health/ready never said 503 while no node accepted writes");
            (await probe.GetAsync("/health/ready")).StatusCode.ShouldBe(HttpStatusCode.OK);
            Trace($"run {run}: first charge {clock.Elapsed.TotalSeconds:F2} s after the kill; rejoining");
            await _cluster.RejoinAsync(primary);
            Trace($"run {run}: rejoined");
        }
        await Waiting.Until(() => merchant.Charged.Count > 50, TimeSpan.FromSeconds(60), "more than 50 charges");
        await stop.CancelAsync();
        Trace("stopping the load");
        await load;
        Trace("load stopped");
        await _db.WaitUntil("select count(*) = 0 from payment_views where status = 'pending'");
        Trace("no pending");

        merchant.Unfinished.ShouldBeEmpty();
        merchant.Refused.ShouldBeEmpty(_host.ErrorOutput); // no 500, no wrong answer: every request ended in 201
        merchant.Transient.ShouldAllBe(a => a.Status == HttpStatusCode.ServiceUnavailable || a.Status == HttpStatusCode.Conflict);
        // Every acknowledged payment is in the log and the read model, and no key made two payments.
        var keys = merchant.Charged.Keys.ToArray();
        var ids = merchant.Charged.Values.ToArray();
        (await _db.ScalarAsync<string[]>("select array(select w.id from unnest($1::text[]) as w(id) where not exists (select 1 from payment_views v where v.id = w.id))", (object)ids))
            .ShouldBeEmpty("acknowledged payments missing after the failovers");
        (await _db.ScalarAsync<string[]>("""
            select array(select metadata->>'idempotencyKey' from ledger.events
                          where type = 'payment_requested' and metadata->>'idempotencyKey' = any($1)
                          group by 1 having count(*) <> 1)
            """, (object)keys)).ShouldBeEmpty("keys with more than one payment");
        (await _db.ScalarAsync<long>("select count(*) from ledger.events where type = 'payment_requested' and metadata->>'idempotencyKey' = any($1)", (object)keys))
            .ShouldBe(keys.Length);
        // Every refund answered 201 is in the log (the client does not keep the refunds' ids: by count).
        (await _db.ScalarAsync<long>("select count(*) from ledger.events where type = 'payment_refunded'")).ShouldBeGreaterThanOrEqualTo(merchant.Refunded.Count);
        Trace("checked the log");
        // The background agents moved to the new primary with the hosts' heartbeats: the log's digest (the checkpoint
        // agent, every 10 s here) takes up every event written across the failovers.
        await _db.WaitUntil("select (select count(*) from ledger.log_digest) = (select count(*) from ledger.event_chain)");
        Trace("the digest covers the log");
        await GatewayBooks.ShouldAgreeWithTheLedger(_db);
        Trace("checked the gateway");
        var (audit, report) = await Cli.Run(_cluster.ConnectionString, "audit", "verify");
        Trace("audit verify done");
        audit.ShouldBe(ExitCodes.Ok, report);
        var seconds = failovers.Select(f => f.FirstChargeSeconds).Order().ToList();
        TestContext.Current.TestOutputHelper?.WriteLine(
            $"failover: 5 primary kills; kill to first charge {string.Join(", ", failovers.Select(f => $"{f.FirstChargeSeconds:F2} s ({f.Killed})"))}; " +
            $"p50 {seconds[2]:F2} s, max {seconds[^1]:F2} s; {merchant.Charged.Count} charges and {merchant.Refunded.Count} refunds answered 201; " +
            $"{merchant.Transient.Count(a => a.Status == HttpStatusCode.ServiceUnavailable)} answers 503 and " +
            $"{merchant.Transient.Count(a => a.Status == HttpStatusCode.Conflict)} 409 in use retried, {merchant.NetworkErrors.Count} network errors; 0 lost, 0 charged twice, audit verify clean");
    }

    [Fact]
    public async Task With_its_standby_killed_the_primary_goes_on_alone_and_says_so_or_refuses_writes_where_required_then_takes_the_standby_back()
    {
        SkipUnlessInstalled();
        using var client = _host.Client(LedgerApp.Acme, TimeSpan.FromSeconds(10));
        // A second host on the same nodes whose operator chose to refuse writes rather than keep them on one server.
        await using var strict = new HostProcess(_cluster.ConnectionString, HostProcess.FastRecovery(("Ledger:Database:SynchronousStandby", "required")));
        await strict.StartAsync();
        using var strictClient = strict.Client(LedgerApp.Acme, TimeSpan.FromSeconds(10));
        var earlierKey = Requests.NewKey();
        var earlier = await strictClient.Charge(key: earlierKey);
        earlier.StatusCode.ShouldBe(HttpStatusCode.Created);
        (await Replication(client)).ShouldStartWith("synchronous");
        (await client.GetStringAsync("/metrics")).ShouldContain("ledger_database_synchronous_standbys{otel_scope_name=\"Ledger\"} 1");
        var primary = await _cluster.PrimaryAsync();
        var standby = primary == "node1" ? "node2" : "node1";

        await _cluster.KillAsync(standby);
        await Waiting.Until(async () => (await Replication(client)).StartsWith("alone", StringComparison.Ordinal), TimeSpan.FromSeconds(60),
            "the ledger saying its primary acknowledges alone");
        var alone = await client.Charge();
        alone.StatusCode.ShouldBe(HttpStatusCode.Created, await alone.Content.ReadAsStringAsync());
        var ready = await client.GetAsync("/health/ready");
        ready.StatusCode.ShouldBe(HttpStatusCode.OK); // degraded, still serving
        (await ready.Json()).Str("status").ShouldBe("degraded");
        (await client.GetStringAsync("/metrics")).ShouldContain("ledger_database_synchronous_standbys{otel_scope_name=\"Ledger\"} 0");
        // The strict host refuses new writes, answers replays, and stored nothing for the refused key.
        await Waiting.Until(async () => (await Replication(strictClient)).StartsWith("alone", StringComparison.Ordinal), TimeSpan.FromSeconds(10), "the strict host seeing it");
        var refusedKey = Requests.NewKey();
        var refused = await strictClient.Charge(key: refusedKey);
        await IdempotencySpecs.ShouldBeProblem(refused, HttpStatusCode.ServiceUnavailable, "no_synchronous_standby");
        refused.Headers.RetryAfter!.Delta.ShouldBe(TimeSpan.FromSeconds(5));
        var replay = await strictClient.Charge(key: earlierKey);
        replay.StatusCode.ShouldBe(HttpStatusCode.Created);
        (await replay.Content.ReadAsStringAsync()).ShouldBe(await earlier.Content.ReadAsStringAsync());
        (await _db.ScalarAsync<long>("select count(*) from ledger.events where metadata->>'idempotencyKey' = $1", refusedKey)).ShouldBe(0);

        await _cluster.RejoinAsync(standby);
        await Waiting.Until(async () => (await Replication(client)).StartsWith("synchronous", StringComparison.Ordinal), TimeSpan.FromSeconds(60),
            "the ledger seeing its synchronous standby again");
        await Waiting.Until(async () => (await Replication(strictClient)).StartsWith("synchronous", StringComparison.Ordinal), TimeSpan.FromSeconds(10), "the strict host seeing it");
        (await strictClient.Charge(key: refusedKey)).StatusCode.ShouldBe(HttpStatusCode.Created); // the same key, now charged
        var id = (await alone.Json()).Str("id");
        // The standby caught up with what the primary acknowledged alone.
        var onStandby = TestDatabase.Existing($"Host=127.0.0.1;Port={await StandbyPort()};Database=ledger;Username=postgres");
        (await onStandby.ScalarAsync<bool>("select exists (select 1 from payment_views where id = $1)", id)).ShouldBeTrue();
    }

    [Fact]
    public async Task Reads_from_the_standby_follow_it_through_a_failover_and_a_writer_always_sees_its_write()
    {
        SkipUnlessInstalled();
        // The read side on both nodes, preferring whichever is the standby (issue 15's replica reads, this topology).
        var standbyReads = _cluster.ConnectionString.Replace("Target Session Attributes=read-write", "Target Session Attributes=prefer-standby");
        await using var host = new HostProcess(_cluster.ConnectionString, HostProcess.FastRecovery(
            ("ConnectionStrings:LedgerReplica", standbyReads), ("Ledger:Replica:CheckEvery", "00:00:00.100")));
        await host.StartAsync();
        using var acme = host.Client(LedgerApp.Acme, TimeSpan.FromSeconds(10));
        (await acme.Charge()).StatusCode.ShouldBe(HttpStatusCode.Created);
        await Waiting.Until(async () => ReadFrom(await acme.GetAsync("/v1/payments?limit=1")) == "replica", TimeSpan.FromSeconds(20), "reads from the standby");

        var primary = await _cluster.PrimaryAsync();
        await _cluster.KillAsync(primary);
        HttpResponseMessage? charged = null;
        await Waiting.Until(async () => (charged = await acme.Charge()).StatusCode == HttpStatusCode.Created, TimeSpan.FromSeconds(60), "a charge on the new primary");
        var id = (await charged!.Json()).Str("id");
        // Alone, the new primary is the only node: reads go to it, and answer.
        var read = await ReadAfter(acme, id, charged!.Headers.GetValues("Ledger-Position").Single());
        read.StatusCode.ShouldBe(HttpStatusCode.OK);
        ReadFrom(read).ShouldBe("primary");

        await _cluster.RejoinAsync(primary);
        // The old primary is the standby now: reads go to it again, and the writer still sees its write.
        await Waiting.Until(async () => ReadFrom(await acme.GetAsync("/v1/payments?limit=1")) == "replica", TimeSpan.FromSeconds(30), "reads from the rejoined standby");
        var again = await acme.Charge();
        var seen = await ReadAfter(acme, (await again.Json()).Str("id"), again.Headers.GetValues("Ledger-Position").Single());
        seen.StatusCode.ShouldBe(HttpStatusCode.OK, await seen.Content.ReadAsStringAsync());
    }

    private static string? ReadFrom(HttpResponseMessage answer) =>
        answer.Headers.TryGetValues("Ledger-Read-From", out var values) ? values.Single() : null;

    private static Task<HttpResponseMessage> ReadAfter(HttpClient client, string id, string position)
    {
        var request = new HttpRequestMessage(HttpMethod.Get, $"/v1/payments/{id}");
        request.Headers.TryAddWithoutValidation("Ledger-Read-After", position);
        return client.SendAsync(request);
    }

    [Fact]
    public async Task Killing_the_monitor_changes_nothing_for_traffic()
    {
        SkipUnlessInstalled();
        using var client = _host.Client(LedgerApp.Acme, TimeSpan.FromSeconds(10));
        await _cluster.KillAsync("monitor");
        try
        {
            for (var i = 0; i < 20; i++)
            {
                var charged = await client.Charge();
                charged.StatusCode.ShouldBe(HttpStatusCode.Created, await charged.Content.ReadAsStringAsync());
            }
            (await Replication(client)).ShouldStartWith("synchronous");
        }
        finally
        {
            await _cluster.RejoinAsync("monitor");
        }
    }

    private async Task<string> StandbyPort()
    {
        var state = await _cluster.StateAsync();
        return state.Split('\n').Select(l => l.Split(' ')).Single(f => f[2] == "secondary")[1];
    }

    private static async Task<string> Replication(HttpClient client)
    {
        var ready = await client.GetAsync("/health/ready");
        return (await ready.Json()).GetProperty("checks").Str("standby");
    }

    private static async Task<HttpStatusCode?> TryCharge(HttpClient client)
    {
        try { return (await client.Charge()).StatusCode; }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException) { return null; }
    }

    public async ValueTask DisposeAsync()
    {
        if (_host is not null) await _host.DisposeAsync();
        await _cluster.DisposeAsync();
    }
}
