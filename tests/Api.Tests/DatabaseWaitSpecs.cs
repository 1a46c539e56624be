using System.Net;
using Ledger.Testing;
using Shouldly;
using Xunit;

namespace Ledger.Api.Tests;

/// <summary>
/// A host started before its database (issue 21: Kubernetes, Podman and systemd start things in no particular order)
/// waits for it, with backoff and a limit, and says so on its ports meanwhile; it does not exit at its first connection.
/// </summary>
public sealed class DatabaseWaitSpecs : IAsyncLifetime
{
    private readonly PostgresCluster _cluster = new();
    private string _connectionString = "";

    public async ValueTask InitializeAsync()
    {
        await _cluster.StartAsync();
        _connectionString = await _cluster.CreateDatabaseAsync();
        await _cluster.StopAsync(); // each spec starts its host with the database down
    }

    [Fact]
    public async Task A_host_started_before_its_database_answers_that_it_waits_then_serves_once_the_database_is_up()
    {
        await using var host = new HostProcess(_connectionString,
            new Dictionary<string, string> { ["Serilog:MinimumLevel:Override:Ledger.Host.DatabaseWait"] = "Information" });
        host.Launch();
        using var client = host.Client(LedgerApp.Acme, TimeSpan.FromSeconds(5));
        await Eventually(async () => (await Live(client)) == HttpStatusCode.OK, host);

        var ready = await client.GetAsync("/health/ready");
        ready.StatusCode.ShouldBe(HttpStatusCode.ServiceUnavailable);
        (await ready.Json()).GetProperty("checks").Str("database").ShouldStartWith("waiting for the database: try ");
        var key = Requests.NewKey();
        var early = await client.Charge(key: key);
        await IdempotencySpecs.ShouldBeProblem(early, HttpStatusCode.ServiceUnavailable, "service_unavailable");
        early.Headers.RetryAfter.ShouldNotBeNull();
        host.Output.ShouldContain(line => line.Contains("Waiting for the database: try 1 failed"), host.RecentOutput);

        await _cluster.StartAsync();
        await host.WaitUntilReadyAsync();

        var charged = await client.Charge(key: key); // the same key: the 503 stored nothing, so this is the first charge
        charged.StatusCode.ShouldBe(HttpStatusCode.Created, await charged.Content.ReadAsStringAsync());
        charged.Headers.Contains("Idempotent-Replayed").ShouldBeFalse();
        var db = TestDatabase.Existing(_connectionString);
        (await db.ScalarAsync<long>("select count(*) from ledger.events where type = 'payment_requested' and metadata->>'idempotencyKey' = $1", key)).ShouldBe(1);
        host.Output.ShouldContain(line => line.Contains("The database answered at try"), host.RecentOutput);
    }

    [Fact]
    public async Task A_host_whose_database_never_comes_gives_up_at_its_limit_and_says_why()
    {
        await using var host = new HostProcess(_connectionString, new Dictionary<string, string> { ["Ledger:Database:StartupWait"] = "00:00:03" });
        var started = DateTime.UtcNow;
        host.Launch();

        (await host.ExitCodeAsync(TimeSpan.FromSeconds(30))).ShouldBe(1);
        (DateTime.UtcNow - started).ShouldBeGreaterThan(TimeSpan.FromSeconds(3));
        host.Output.ShouldContain(line => line.Contains("Ledger will not start: the database did not answer within 00:00:03"), host.RecentOutput);
    }

    [Fact]
    public async Task A_host_asked_to_stop_while_it_waits_stops_at_once()
    {
        await using var host = new HostProcess(_connectionString);
        host.Launch();
        using var client = host.Client(null, TimeSpan.FromSeconds(5));
        await Eventually(async () => (await Live(client)) == HttpStatusCode.OK, host);

        var asked = DateTime.UtcNow;
        host.Terminate();

        (await host.ExitCodeAsync(TimeSpan.FromSeconds(10))).ShouldBe(0);
        (DateTime.UtcNow - asked).ShouldBeLessThan(TimeSpan.FromSeconds(5));
        host.Output.ShouldContain(line => line.Contains("Stopped while waiting for the database"), host.RecentOutput);
    }

    [Fact]
    public async Task Credentials_the_database_refuses_stop_the_host_at_once_since_waiting_cannot_mend_them()
    {
        await _cluster.StartAsync();
        var stranger = new Npgsql.NpgsqlConnectionStringBuilder(_connectionString) { Username = "nobody_here" }.ConnectionString;
        await using var host = new HostProcess(stranger);
        host.Launch();

        (await host.ExitCodeAsync(TimeSpan.FromSeconds(30))).ShouldBe(1);
        host.Output.ShouldContain(line => line.Contains("PostgreSQL refused its credentials") && line.Contains("nobody_here"), host.RecentOutput);
        host.Output.ShouldNotContain(line => line.Contains("Waiting for the database"));
    }

    private static async Task<HttpStatusCode?> Live(HttpClient client)
    {
        try { return (await client.GetAsync("/health/live")).StatusCode; }
        catch (HttpRequestException) { return null; } // not listening yet
    }

    private static async Task Eventually(Func<Task<bool>> condition, HostProcess host)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"Not within 30 s. The host said:\n{host.RecentOutput}");
            await Task.Delay(100);
        }
    }

    public async ValueTask DisposeAsync() => await _cluster.DisposeAsync();
}
