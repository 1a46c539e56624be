using System.Diagnostics;
using Ledger.Testing;
using Shouldly;
using Xunit;

namespace Ledger.Api.Tests;

/// <summary>
/// The pending sweep is a Wolverine agent: of the hosts sharing a database exactly one runs it, and when that one
/// dies (SIGKILL) Wolverine's node assignment moves it to a live host. Two real host processes, one database.
/// </summary>
public sealed class SweepAgentSpecs(ITestOutputHelper output) : IAsyncLifetime
{
    private const string SweepOwner = "select node_id from wolverine.wolverine_node_assignments where id like 'ledger-sweep:%'";
    private readonly TestDatabase _db = new();
    private HostProcess _first = null!, _second = null!;

    public async ValueTask InitializeAsync()
    {
        await _db.InitializeAsync();
        _first = new HostProcess(_db.ConnectionString, HostProcess.FastRecovery());
        _second = new HostProcess(_db.ConnectionString, HostProcess.FastRecovery());
    }

    [Fact]
    public async Task Two_hosts_run_one_sweep_and_it_moves_to_the_survivor_when_its_host_is_killed()
    {
        await _first.StartAsync();
        await _db.WaitUntil($"select exists ({SweepOwner})");
        var owner = await _db.ScalarAsync<Guid>(SweepOwner);

        await _second.StartAsync();
        await _db.WaitUntil("select count(*) = 2 from wolverine.wolverine_nodes");
        // Several assignment rounds (every 5 s) with both hosts alive: still one sweep, still on the first host.
        await Task.Delay(TimeSpan.FromSeconds(7), TestContext.Current.CancellationToken);
        (await _db.ScalarAsync<long>("select count(*) from wolverine.wolverine_node_assignments where id like 'ledger-sweep:%'")).ShouldBe(1);
        (await _db.ScalarAsync<Guid>(SweepOwner)).ShouldBe(owner);

        var killed = Stopwatch.StartNew();
        await _first.KillAsync();
        await _db.WaitUntil($"select exists ({SweepOwner} and node_id <> $1)", owner);
        output.WriteLine($"The sweep moved to the surviving host {killed.Elapsed.TotalSeconds:F1} s after its host was killed.");
        (await _db.ScalarAsync<long>("select count(*) from wolverine.wolverine_node_assignments where id like 'ledger-sweep:%'")).ShouldBe(1);
    }

    public async ValueTask DisposeAsync()
    {
        await _first.DisposeAsync();
        await _second.DisposeAsync();
        await _db.DisposeAsync();
    }
}
