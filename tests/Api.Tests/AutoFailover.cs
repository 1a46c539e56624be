namespace Ledger.Api.Tests;

/// <summary>
/// PostgreSQL with automatic failover (scripts/ha.sh, what `make ha` runs): pg_auto_failover's monitor and two data nodes
/// with synchronous replication, on loopback ports of its own, under a directory of its own that disposal deletes.
/// </summary>
public sealed class AutoFailover : IAsyncDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), $"ledger-ha-{Guid.NewGuid():N}"[..22]);
    private static string Script => Path.Combine(ChildProcess.RepositoryRoot(), "scripts", "ha.sh");

    public static bool Installed => File.Exists("/usr/bin/pg_autoctl");

    /// <summary>Npgsql's multi-host connection string: both nodes, the read-write one wanted.</summary>
    public string ConnectionString { get; private set; } = "";

    public async Task StartAsync()
    {
        await Run(TimeSpan.FromMinutes(3), "up", _dir, HostProcess.FreePort().ToString(), HostProcess.FreePort().ToString(), HostProcess.FreePort().ToString());
        ConnectionString = (await Run(TimeSpan.FromSeconds(10), "url", _dir)).Trim();
    }

    /// <summary>The node that is primary now (primary, or wait_primary while its standby is away).</summary>
    public async Task<string> PrimaryAsync() => (await Run(TimeSpan.FromSeconds(10), "primary", _dir)).Trim();

    /// <summary>One line per node: name, port, reported state, goal state.</summary>
    public async Task<string> StateAsync() => (await Run(TimeSpan.FromSeconds(10), "state", _dir)).Trim();

    /// <summary>SIGKILL of a node (its keeper, then its postmaster) or of the monitor.</summary>
    public Task KillAsync(string node) => Run(TimeSpan.FromSeconds(10), "kill", _dir, node);

    /// <summary>Restarts a killed node, which rewinds and comes back as the secondary; waits until both nodes are healthy.</summary>
    public Task RejoinAsync(string node) => Run(TimeSpan.FromMinutes(3), "rejoin", _dir, node, "150");

    public Task WaitHealthyAsync(int seconds = 120) => Run(TimeSpan.FromSeconds(seconds + 10), "wait", _dir, seconds.ToString());

    private static async Task<string> Run(TimeSpan timeout, params string[] args)
    {
        var result = await ChildProcess.RunAsync(Script, args, timeout: timeout);
        if (result.Exit != 0) throw new InvalidOperationException($"scripts/ha.sh {string.Join(' ', args)} exited {result.Exit}: {result.Output}");
        return result.Stdout;
    }

    public async ValueTask DisposeAsync()
    {
        try { await Run(TimeSpan.FromMinutes(1), "down", _dir); }
        catch (Exception e) when (e is InvalidOperationException or TimeoutException) { /* best effort: its processes are killed by path */ }
    }
}
