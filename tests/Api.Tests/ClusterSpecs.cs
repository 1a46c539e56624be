using System.Diagnostics;
using System.Net;
using System.Text.Json.Nodes;
using Ledger.Host.Cli;
using Ledger.Testing;
using Shouldly;
using Xunit;

namespace Ledger.Api.Tests;

/// <summary>
/// Issue 15: three real host processes on one database behind HAProxy, as `make cluster` runs them. Every guarantee of
/// one host holds across hosts, and the background agents (sweep, checkpoints, webhook dispatcher) live on exactly
/// one live host and move when it dies.
/// </summary>
public sealed class ClusterSpecs(ITestOutputHelper output) : IAsyncLifetime
{
    private const string Agents = "select id, node_id from wolverine.wolverine_node_assignments where id like 'ledger-%'";
    private readonly TestDatabase _db = new();
    private readonly List<HostProcess> _hosts = [];
    private readonly Dictionary<HostProcess, Guid> _nodes = [];
    private Balancer _balancer = null!;

    public async ValueTask InitializeAsync()
    {
        if (!Balancer.Installed) Assert.Skip("haproxy is not installed and `make test` could not install it (scripts/cluster.sh ensure)");
        await _db.InitializeAsync();
        // A little gateway latency widens the window between the two steps of a charge, where a kill hurts most.
        for (var i = 0; i < 3; i++)
            _hosts.Add(new HostProcess(_db.ConnectionString, HostProcess.FastRecovery(("Ledger:Gateway:Simulator:LatencyMs", "20"))));
        foreach (var host in _hosts) await Start(host); // one after another: the first migrates the database
        _balancer = new Balancer(_hosts);
        await _balancer.StartAsync();
    }

    /// <summary>Starts a host and learns its Wolverine node: the node that joined the cluster when it started.</summary>
    private async Task Start(HostProcess host)
    {
        var before = await _db.ScalarAsync<bool>("select to_regclass('wolverine.wolverine_nodes') is null")
            ? 0 : await _db.ScalarAsync<int>("select coalesce(max(node_number), 0) from wolverine.wolverine_nodes");
        await host.StartAsync();
        await _db.WaitUntil("select coalesce(max(node_number), 0) > $1 from wolverine.wolverine_nodes", before);
        _nodes[host] = await _db.ScalarAsync<Guid>("select id from wolverine.wolverine_nodes order by node_number desc limit 1");
    }

    [Fact]
    public async Task A_hundred_requests_with_one_key_spread_over_three_hosts_make_one_payment_and_one_gateway_charge()
    {
        var key = Requests.NewKey();
        var body = Requests.Charge(amount: 4300);
        var responses = await Task.WhenAll(Enumerable.Range(0, 100).Select(async _ =>
        {
            using var client = _balancer.Client(LedgerApp.Acme);
            var r = await client.PostJson("/v1/payments", body, key);
            return (r.StatusCode, Body: await r.Content.ReadAsStringAsync(), Host: Balancer.HostOf(r));
        }));

        responses.Select(r => r.Host).Distinct().Count().ShouldBe(3, "the requests reached every host");
        var created = responses.Where(r => r.StatusCode == HttpStatusCode.Created).ToList();
        var inUse = responses.Where(r => r.StatusCode == HttpStatusCode.Conflict).ToList();
        (created.Count + inUse.Count).ShouldBe(100);
        created.Select(r => r.Body).Distinct().Count().ShouldBe(1, "every host answered the same payment, byte for byte");
        inUse.ShouldAllBe(r => r.Body.Contains("idempotency_key_in_use"));

        var paymentId = JsonNode.Parse(created[0].Body)!["id"]!.GetValue<string>();
        (await _db.ScalarAsync<long>("select count(*) from payment_views where amount = 4300")).ShouldBe(1);
        (await _db.ScalarAsync<long>("select count(*) from ledger.events where type = 'payment_requested' and metadata->>'idempotencyKey' = $1", key)).ShouldBe(1);
        (await _db.ScalarAsync<long>("select count(*) from gateway_simulator_charges where gateway_key = $1", paymentId)).ShouldBe(1);
    }

    [Fact]
    public async Task Twenty_refunds_racing_on_three_hosts_never_refund_more_than_was_charged()
    {
        using var acme = _balancer.Client(LedgerApp.Acme);
        // On a loaded machine a charge may answer while still pending (its gateway call outlasting the request's wait),
        // and with these hosts' one-second lease the sweep may resolve it first: as failed, fencing the gateway key
        // (the designed crash recovery, ResolvePendingPayments). The race below is about a succeeded payment, so it
        // starts from one: up to five charges until one succeeds.
        string id = "", status = "";
        for (var charge = 0; charge < 5 && status != "succeeded"; charge++)
        {
            id = (await (await acme.Charge(Requests.Charge(amount: 1250))).Json()).Str("id");
            var deadline = DateTime.UtcNow.AddSeconds(30);
            while ((status = (await (await acme.GetAsync($"/v1/payments/{id}")).Json()).Str("status")) == "pending" && DateTime.UtcNow < deadline)
                await Task.Delay(200);
        }
        status.ShouldBe("succeeded");

        var responses = await Task.WhenAll(Enumerable.Range(0, 20).Select(async _ =>
        {
            using var client = _balancer.Client(LedgerApp.Acme);
            var r = await client.PostJson($"/v1/payments/{id}/refunds", new JsonObject { ["amount"] = 100 }, Requests.NewKey());
            return (r.StatusCode, Type: r.Content.Headers.ContentType?.MediaType, Host: Balancer.HostOf(r));
        }));

        responses.Select(r => r.Host).Distinct().Count().ShouldBe(3);
        responses.Count(r => r.StatusCode == HttpStatusCode.Created).ShouldBe(12); // 12 x 100 fit in 1250
        responses.Where(r => r.StatusCode != HttpStatusCode.Created).ShouldAllBe(r =>
            (r.StatusCode == HttpStatusCode.UnprocessableEntity || r.StatusCode == HttpStatusCode.Conflict) && r.Type == "application/problem+json");
        (await _db.ScalarAsync<long>(
            "select coalesce(sum((data->>'amount')::bigint), 0)::bigint from ledger.events where stream_id = $1 and type = 'payment_refunded'", id)).ShouldBe(1200);
        var read = await (await acme.GetAsync($"/v1/payments/{id}")).Json();
        (read.GetProperty("amountRefunded").GetInt64(), read.GetProperty("amountRefundable").GetInt64()).ShouldBe((1200L, 50L));
    }

    [Fact]
    public async Task Killing_the_host_that_runs_the_agents_under_load_loses_nothing_and_the_agents_move_to_a_live_host()
    {
        await _db.WaitUntil("select count(*) = 3 from wolverine.wolverine_node_assignments where id like 'ledger-%'");
        var merchant = new CarefulMerchant(() => _balancer.Client(LedgerApp.Acme, TimeSpan.FromSeconds(10)), TimeSpan.FromSeconds(90));
        using var stop = new CancellationTokenSource();
        var load = merchant.RunAsync(workers: 6, stop.Token);
        var takeovers = new List<TimeSpan>();
        var clock = Stopwatch.StartNew();
        void Log(string what) => output.WriteLine($"{clock.Elapsed.TotalSeconds,6:F1} s: {what}");
        for (var round = 0; round < 2; round++)
        {
            await Task.Delay(TimeSpan.FromSeconds(1.5), TestContext.Current.CancellationToken);
            var sweepOwner = await _db.ScalarAsync<Guid>("select node_id from wolverine.wolverine_node_assignments where id like 'ledger-sweep:%'");
            var victim = _nodes.Single(n => n.Value == sweepOwner).Key;
            var killed = Stopwatch.StartNew();
            await victim.KillAsync();
            // Every agent of the dead host is given to a live one (a live node: not the dead one, still in the node table).
            var deadline = DateTime.UtcNow.AddSeconds(60);
            while (await _db.ScalarAsync<long>($"""
                       select count(*) from ({Agents}) a
                       where a.node_id <> $1 and a.node_id in (select id from wolverine.wolverine_nodes)
                       """, sweepOwner) < 3)
            {
                if (DateTime.UtcNow > deadline) throw new TimeoutException("The dead host's agents were not taken over within 60 s.");
                await Task.Delay(100, TestContext.Current.CancellationToken);
            }
            takeovers.Add(killed.Elapsed);
            Log($"round {round}: agents moved {killed.Elapsed.TotalSeconds:F1} s after the kill; {merchant.Charged.Count} charged");
            await Start(victim);
            Log($"round {round}: killed host back"); // it comes back as a new node, and takes requests again
        }
        await Task.Delay(TimeSpan.FromSeconds(1), TestContext.Current.CancellationToken);
        await stop.CancelAsync();
        await load;
        Log("load stopped");
        // The sweep, now on another host, finishes what the kills left pending.
        await _db.WaitUntil("select count(*) = 0 from payment_views where status = 'pending'");

        Log("nothing pending");
        merchant.Unfinished.ShouldBeEmpty();
        merchant.Refused.ShouldBeEmpty(string.Join('\n', _hosts.Select(h => h.ErrorOutput)));
        merchant.Charged.Count.ShouldBeGreaterThan(20);
        // One question per property over every answered charge (thousands of them): each key made one payment...
        var keys = merchant.Charged.Keys.ToArray();
        (await _db.ScalarAsync<long>("""
            select count(*) from unnest($1::text[]) as k(key)
            left join (select metadata->>'idempotencyKey' as key, count(*) as n from ledger.events
                       where type = 'payment_requested' group by 1) e using (key)
            where e.n is distinct from 1
            """, (object)keys)).ShouldBe(0, "keys that made no payment or more than one");
        // ...and each payment stands as its answer said: failed stays failed, a success is succeeded or partly refunded.
        var ids = merchant.Charged.Values.ToArray();
        (await _db.ScalarAsync<long>("""
            select count(*) from unnest($1::text[], $2::bool[]) as a(id, failed)
            left join payment_views v using (id)
            where case when a.failed then v.status is distinct from 'failed'
                       else v.status is null or v.status not in ('succeeded', 'partially_refunded') end
            """, ids, ids.Select(id => merchant.FinalStatus[id] == "failed").ToArray())).ShouldBe(0, "payments whose state is not what their answer said");
        await GatewayBooks.ShouldAgreeWithTheLedger(_db);
        (await _db.ScalarAsync<long>("select count(*) from wolverine.wolverine_node_assignments where id like 'ledger-%'")).ShouldBe(3, "each agent once");
        var (audit, report) = await Cli.Run(_db.ConnectionString, "audit", "verify");
        audit.ShouldBe(ExitCodes.Ok, report);
        output.WriteLine($"2 kills of the agents' host: agents on a live host {string.Join(" and ", takeovers.Select(t => $"{t.TotalSeconds:F1} s"))} after the kill " +
            $"(StaleAfter 10 s, assignments checked every 5 s); {merchant.Charged.Count} charges and {merchant.Refunded.Count} refunds answered 201; " +
            $"{merchant.Transient.Count} transient answers ({string.Join(", ", merchant.Transient.GroupBy(a => (int)a.Status).Select(g => $"{g.Count()} x {g.Key}"))}) " +
            $"and {merchant.NetworkErrors.Count} network errors retried; 0 lost, 0 charged twice, audit verify clean");
    }

    public async ValueTask DisposeAsync()
    {
        if (_balancer is not null) await _balancer.DisposeAsync();
        foreach (var host in _hosts) await host.DisposeAsync();
        await _db.DisposeAsync();
    }
}

/// <summary>
/// Issue 15: a key's rate limit is the cluster's, not each host's. Three hosts behind HAProxy, 20 requests a second with
/// bursts of 20 per key: each host's bucket holds a third, so the key gets about what one host would give it.
/// </summary>
public sealed class ClusterRateLimitSpecs(ITestOutputHelper output) : IAsyncLifetime
{
    private const int Rate = 20, Burst = 20;
    private readonly TestDatabase _db = new();
    private readonly List<HostProcess> _hosts = [];
    private Balancer _balancer = null!;

    public async ValueTask InitializeAsync()
    {
        if (!Balancer.Installed) Assert.Skip("haproxy is not installed and `make test` could not install it (scripts/cluster.sh ensure)");
        await _db.InitializeAsync();
        for (var i = 0; i < 3; i++)
            _hosts.Add(new HostProcess(_db.ConnectionString, HostProcess.FastRecovery(
                ("Ledger:RateLimit:PermitsPerSecond", Rate.ToString()), ("Ledger:RateLimit:Burst", Burst.ToString()))));
        foreach (var host in _hosts) await host.StartAsync();
        _balancer = new Balancer(_hosts);
        await _balancer.StartAsync();
    }

    [Fact]
    public async Task A_key_spread_over_three_hosts_gets_the_clusters_budget_not_three_times_it()
    {
        await _db.WaitUntil("select count(*) = 3 from wolverine.wolverine_nodes");
        // Each host reads the count of live hosts every HeartbeatEvery (2 s here); its buckets are new when it changes.
        await Task.Delay(TimeSpan.FromSeconds(3), TestContext.Current.CancellationToken);

        var seconds = 3.0;
        var answers = new System.Collections.Concurrent.ConcurrentBag<(HttpStatusCode Status, string? Host, string Type)>();
        var until = DateTime.UtcNow.AddSeconds(seconds);
        await Task.WhenAll(Enumerable.Range(0, 6).Select(async _ =>
        {
            using var client = _balancer.Client(LedgerApp.Acme);
            while (DateTime.UtcNow < until)
            {
                using var r = await client.GetAsync("/v1/payments?limit=1");
                answers.Add((r.StatusCode, Balancer.HostOf(r), r.Content.Headers.ContentType?.MediaType ?? ""));
            }
        }));

        var admitted = answers.Count(a => a.Status == HttpStatusCode.OK);
        var refused = answers.Where(a => a.Status != HttpStatusCode.OK).ToList();
        refused.ShouldAllBe(a => a.Status == HttpStatusCode.TooManyRequests && a.Type == "application/problem+json");
        answers.Where(a => a.Status == HttpStatusCode.OK).Select(a => a.Host).Distinct().Count().ShouldBe(3);
        var budget = Burst + Rate * seconds; // 80: what one host alone would admit
        // Each host holds ceil(20/3) = 7 tokens and gets 7 a second: at most 21 + 21/s, if the balancer spreads evenly.
        var most = 3 * 7 + 3 * 7 * seconds;
        var summary = $"{answers.Count} requests in {seconds} s: {admitted} admitted ({admitted / budget:P0} of the cluster's budget of {budget}, " +
            $"at most {most} with even spreading; per-host limits would have admitted up to {3 * budget}), {refused.Count} refused with 429";
        output.WriteLine(summary);
        admitted.ShouldBeLessThanOrEqualTo((int)most + 7, $"a key's budget is not multiplied by the number of hosts: {summary}");
        // On a machine too busy to ask for the whole budget in the time, what was asked for is the measure.
        admitted.ShouldBeGreaterThanOrEqualTo((int)(Math.Min(budget, answers.Count) * 0.75), $"nor is it cut much below the cluster's budget: {summary}");
    }

    public async ValueTask DisposeAsync()
    {
        if (_balancer is not null) await _balancer.DisposeAsync();
        foreach (var host in _hosts) await host.DisposeAsync();
        await _db.DisposeAsync();
    }
}

/// <summary>
/// Issue 15: the primary stopped and started under load behind HAProxy: writes answer 503 problem+json meanwhile
/// (from a host, or from HAProxy once every host's readiness is red), and the same host processes take writes again
/// when it is back, nothing lost. A PostgreSQL cluster of the spec's own, so no other spec's database goes down.
/// </summary>
public sealed class ClusterOutageSpecs(ITestOutputHelper output) : IAsyncLifetime
{
    private readonly PostgresCluster _cluster = new(synchronousCommit: true);
    private readonly List<HostProcess> _hosts = [];
    private TestDatabase _db = null!;
    private Balancer _balancer = null!;

    public async ValueTask InitializeAsync()
    {
        if (!Balancer.Installed) Assert.Skip("haproxy is not installed and `make test` could not install it (scripts/cluster.sh ensure)");
        await _cluster.StartAsync();
        var connection = await _cluster.CreateDatabaseAsync();
        _db = TestDatabase.Existing(connection);
        for (var i = 0; i < 2; i++) _hosts.Add(new HostProcess(connection, HostProcess.FastRecovery()));
        foreach (var host in _hosts) await host.StartAsync();
        _balancer = new Balancer(_hosts);
        await _balancer.StartAsync();
    }

    [Fact]
    public async Task Writes_answer_503_problems_while_the_primary_is_down_and_the_same_hosts_go_on_when_it_is_back()
    {
        var merchant = new CarefulMerchant(() => _balancer.Client(LedgerApp.Acme, TimeSpan.FromSeconds(10)), TimeSpan.FromSeconds(60));
        using var stop = new CancellationTokenSource();
        var load = merchant.RunAsync(workers: 4, stop.Token);
        using var probe = _balancer.Client(LedgerApp.Acme);
        await Waiting.Until(() => merchant.Charged.Count >= 10, TimeSpan.FromSeconds(60), "10 charges");

        await _cluster.StopAsync();
        var outage = new List<(HttpStatusCode Status, string? Type, string Body, bool RetryAfter)>();
        for (var i = 0; i < 10; i++) // through the first host answers and HAProxy's own once both are out
        {
            var answer = await probe.Charge();
            outage.Add((answer.StatusCode, answer.Content.Headers.ContentType?.MediaType, await answer.Content.ReadAsStringAsync(), answer.Headers.RetryAfter is not null));
            await Task.Delay(300);
        }
        outage.ShouldAllBe(a => a.Status == HttpStatusCode.ServiceUnavailable && a.Type == "application/problem+json" && a.RetryAfter);
        outage.ShouldAllBe(a => a.Body.Contains("\"code\":\"service_unavailable\""));
        var chargedBefore = merchant.Charged.Count;

        await _cluster.StartAsync();
        await Waiting.Until(() => merchant.Charged.Count >= chargedBefore + 10, TimeSpan.FromSeconds(60), "10 more charges"); // the same processes, not restarted
        _hosts.ShouldAllBe(h => h.Running);
        await stop.CancelAsync();
        await load;

        merchant.Unfinished.ShouldBeEmpty();
        merchant.Refused.ShouldBeEmpty();
        merchant.Transient.ShouldAllBe(a => a.Status == HttpStatusCode.ServiceUnavailable || a.Status == HttpStatusCode.Conflict
            || a.Status == HttpStatusCode.BadGateway);
        await _db.WaitUntil("select count(*) = 0 from payment_views where status = 'pending'");
        await GatewayBooks.ShouldAgreeWithTheLedger(_db);
        output.WriteLine($"outage behind HAProxy: {merchant.Charged.Count} charges answered 201, {merchant.Transient.Count} transient answers " +
            $"({string.Join(", ", merchant.Transient.GroupBy(a => (int)a.Status).Select(g => $"{g.Count()} x {g.Key}"))}), 0 lost");
    }

    public async ValueTask DisposeAsync()
    {
        if (_balancer is not null) await _balancer.DisposeAsync();
        foreach (var host in _hosts) await host.DisposeAsync();
        await _cluster.DisposeAsync();
    }
}
