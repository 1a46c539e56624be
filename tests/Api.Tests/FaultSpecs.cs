using System.Net;
using Ledger.Host.Cli;
using Ledger.Testing;
using Shouldly;
using Xunit;

namespace Ledger.Api.Tests;

/// <summary>The real host under load, killed with SIGKILL at random moments, again and again.</summary>
public sealed class KillLoopSpecs : IAsyncLifetime
{
    private readonly TestDatabase _db = new();
    private HostProcess _host = null!;

    public async ValueTask InitializeAsync()
    {
        await _db.InitializeAsync();
        // A little gateway latency widens the window between the two steps of a charge.
        _host = new HostProcess(_db.ConnectionString, HostProcess.FastRecovery(("Ledger:Gateway:Simulator:LatencyMs", "50")));
    }

    [Fact]
    public async Task Five_kills_under_load_lose_nothing_charge_nothing_twice_and_leave_a_verifiable_ledger()
    {
        await _host.StartAsync();
        var merchant = new CarefulMerchant(() => _host.Client(LedgerApp.Acme, TimeSpan.FromSeconds(10)), TimeSpan.FromSeconds(60));
        using var stop = new CancellationTokenSource();
        var load = merchant.RunAsync(workers: 8, stop.Token);
        var random = new Random(42);
        for (var kill = 0; kill < 5; kill++)
        {
            await Task.Delay(TimeSpan.FromMilliseconds(random.Next(700, 2000)));
            await _host.KillAsync();
            await _host.StartAsync();
        }
        // The load goes on until it has made enough charges to judge by: on a busy machine (other specs' hosts running
        // in parallel) five kills can come faster than 20 charges.
        await Waiting.Until(() => merchant.Charged.Count > 20, TimeSpan.FromSeconds(60), "more than 20 charges");
        await stop.CancelAsync();
        await load;
        await _db.WaitUntil("select count(*) = 0 from payment_views where status = 'pending'");

        merchant.Unfinished.ShouldBeEmpty();
        merchant.Refused.ShouldBeEmpty(_host.ErrorOutput); // every charge and refund, retried through the kills, ended in 201
        merchant.Transient.ShouldAllBe(a => a.Status == HttpStatusCode.Conflict); // the database stayed up: never a 503
        merchant.Charged.Count.ShouldBeGreaterThan(20);
        foreach (var (key, id) in merchant.Charged)
        {
            (await _db.ScalarAsync<long>("select count(*) from ledger.events where type = 'payment_requested' and metadata->>'idempotencyKey' = $1", key))
                .ShouldBe(1, $"key {key}");
            var status = await _db.ScalarAsync<string>("select status from payment_views where id = $1", id);
            if (merchant.FinalStatus[id] == "failed") status.ShouldBe("failed", id);
            else new[] { "succeeded", "partially_refunded" }.ShouldContain(status, id);
        }
        await GatewayBooks.ShouldAgreeWithTheLedger(_db);
        var (audit, report) = await Cli.Run(_db.ConnectionString, "audit", "verify");
        audit.ShouldBe(ExitCodes.Ok, report);
        TestContext.Current.TestOutputHelper?.WriteLine(
            $"kill loop: 5 kills survived; {merchant.Charged.Count} charges and {merchant.Refunded.Count} refunds answered 201; " +
            $"{merchant.Transient.Count} answers 409 in use and {merchant.NetworkErrors.Count} network errors retried; 0 refused, 0 lost, 0 charged twice, audit verify clean");
    }

    public async ValueTask DisposeAsync()
    {
        await _host.DisposeAsync();
        await _db.DisposeAsync();
    }
}

/// <summary>PostgreSQL stopped under load, then started again: a cluster of the test's own, so nothing else goes down.</summary>
public sealed class DatabaseOutageSpecs : IAsyncLifetime
{
    private readonly PostgresCluster _cluster = new(synchronousCommit: true); // it is stopped under load
    private HostProcess _host = null!;
    private string _connectionString = "";

    public async ValueTask InitializeAsync()
    {
        await _cluster.StartAsync();
        _connectionString = await _cluster.CreateDatabaseAsync();
        _host = new HostProcess(_connectionString, HostProcess.FastRecovery());
    }

    [Fact]
    public async Task Requests_fail_fast_with_503_while_the_database_is_down_and_every_retrying_client_ends_with_one_payment()
    {
        await _host.StartAsync();
        var merchant = new CarefulMerchant(() => _host.Client(LedgerApp.Acme, TimeSpan.FromSeconds(10)), TimeSpan.FromSeconds(60));
        using var stop = new CancellationTokenSource();
        var load = merchant.RunAsync(workers: 6, stop.Token);
        using var probe = _host.Client(LedgerApp.Acme);
        await WaitFor(async () => merchant.Charged.Count >= 10);

        var stoppedAt = DateTime.UtcNow;
        await _cluster.StopAsync();
        var started = DateTime.UtcNow;
        var duringOutage = await probe.Charge();
        var answeredIn = DateTime.UtcNow - started;
        await IdempotencySpecs.ShouldBeProblem(duringOutage, HttpStatusCode.ServiceUnavailable, "service_unavailable");
        duringOutage.Headers.RetryAfter.ShouldNotBeNull();
        answeredIn.ShouldBeLessThan(TimeSpan.FromSeconds(5));
        (await probe.GetAsync("/health/ready")).StatusCode.ShouldBe(HttpStatusCode.ServiceUnavailable);
        (await probe.GetAsync("/health/live")).StatusCode.ShouldBe(HttpStatusCode.OK);
        var chargedBeforeRestart = merchant.Charged.Count;

        await _cluster.StartAsync();
        await WaitFor(async () => (await probe.GetAsync("/health/ready")).StatusCode == HttpStatusCode.OK);
        var readyAt = DateTime.UtcNow;
        await WaitFor(async () => merchant.Charged.Count >= chargedBeforeRestart + 10); // the same process recovered
        await stop.CancelAsync();
        await load;

        merchant.Unfinished.ShouldBeEmpty();
        merchant.Refused.ShouldBeEmpty(_host.ErrorOutput); // every charge and refund ended in 201: no 500, no 422, no stray 409
        var unavailable = merchant.Transient.Where(a => a.Status == HttpStatusCode.ServiceUnavailable).ToList();
        unavailable.ShouldNotBeEmpty();
        // 503 only while the database was down: from the stop until the host was ready again, plus the time its pooled
        // connections take to find out the server restarted (each fails once, then is replaced).
        unavailable.ShouldAllBe(a => a.At >= stoppedAt && a.At <= readyAt + RecoverySlack);
        merchant.Transient.ShouldAllBe(a => a.Status == HttpStatusCode.ServiceUnavailable || a.Status == HttpStatusCode.Conflict);
        var stored = TestDatabase.Existing(_connectionString);
        await GatewayBooks.ShouldAgreeWithTheLedger(stored);
        await using var db = Npgsql.NpgsqlDataSource.Create(_connectionString);
        foreach (var key in merchant.Charged.Keys)
        {
            await using var cmd = db.CreateCommand("select count(*) from ledger.events where type = 'payment_requested' and metadata->>'idempotencyKey' = $1");
            cmd.Parameters.Add(new Npgsql.NpgsqlParameter { Value = key });
            ((long)(await cmd.ExecuteScalarAsync())!).ShouldBe(1, key);
        }
        var (audit, report) = await Cli.Run(_connectionString, "audit", "verify");
        audit.ShouldBe(ExitCodes.Ok, report);
        TestContext.Current.TestOutputHelper?.WriteLine(
            $"outage: 503 in {answeredIn.TotalMilliseconds:F0} ms while down; {unavailable.Count} answers 503 (the last {(unavailable.Max(a => a.At) - readyAt).TotalMilliseconds:F0} ms after ready) and " +
            $"{merchant.Transient.Count(a => a.Status == HttpStatusCode.Conflict)} 409 in-use retried; 0 refused; {merchant.Charged.Count} keys, each exactly one payment; audit verify clean");
    }

    private static readonly TimeSpan RecoverySlack = TimeSpan.FromSeconds(3);

    private static async Task WaitFor(Func<Task<bool>> condition)
    {
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException("The condition did not hold within 60 s.");
            await Task.Delay(50);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _host.DisposeAsync();
        await _cluster.DisposeAsync();
    }
}
