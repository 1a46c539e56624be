using Npgsql;
using Wolverine;

namespace Ledger.Host;

/// <summary>How often the hosts sharing a database tell each other they are alive (section Ledger:Cluster).</summary>
public sealed class ClusterOptions
{
    /// <summary>A host's first heartbeat after it starts: a lone host becomes leader (and runs its agents) this soon.</summary>
    public TimeSpan FirstHeartbeatAfter { get; set; } = TimeSpan.FromSeconds(1);
    public TimeSpan HeartbeatEvery { get; set; } = TimeSpan.FromSeconds(5);
    /// <summary>A host silent this long is taken for dead, and its agents (the sweep) go to a live one.</summary>
    public TimeSpan StaleAfter { get; set; } = TimeSpan.FromSeconds(30);
    /// <summary>How often the leader checks that every agent runs on a live host.</summary>
    public TimeSpan CheckAssignmentsEvery { get; set; } = TimeSpan.FromSeconds(10);
}

/// <summary>
/// The hosts sharing a database are one Wolverine cluster: each records itself in Wolverine's node tables (schema
/// `wolverine`, on Marten's database through Wolverine's Marten integration, LedgerServices.AddLedger), one is leader,
/// and the leader gives each agent (the pending sweep, the checkpoint writer, the webhook dispatcher) to exactly one
/// live host.
/// </summary>
public static class Cluster
{
    public const string Schema = "wolverine";

    public static void Configure(WolverineOptions wolverine, IConfiguration configuration)
    {
        var options = configuration.GetSection("Ledger:Cluster").Get<ClusterOptions>() ?? new ClusterOptions();
        // Balanced: hosts elect a leader, which assigns agents to live nodes.
        wolverine.Durability.Mode = DurabilityMode.Balanced;
        wolverine.Durability.FirstHealthCheckExecution = options.FirstHeartbeatAfter;
        wolverine.Durability.HealthCheckPollingTime = options.HeartbeatEvery;
        wolverine.Durability.StaleNodeTimeout = options.StaleAfter;
        wolverine.Durability.CheckAssignmentPeriod = options.CheckAssignmentsEvery;
        // Nothing reads Wolverine's message-count gauges; their query every 5 s is not worth its cost.
        wolverine.Durability.DurabilityMetricsEnabled = false;
        // Wolverine's tables are built by the start-up migration, once per Wolverine version (LedgerServices.MigrateAsync),
        // not compared with the database on every start.
        wolverine.AutoBuildMessageStorageOnStartup = JasperFx.AutoCreate.None;
    }
}

/// <summary>
/// A Wolverine singular agent that runs a loop of its own while this host holds it: started when the leader assigns
/// it here, cancelled and awaited when it is moved or the host stops.
/// </summary>
public abstract class LoopingAgent(string scheme) : Wolverine.Runtime.Agents.SingularAgent(scheme)
{
    private CancellationTokenSource? _stopping;
    private Task? _running;

    protected abstract Task RunAsync(CancellationToken stopping);

    protected override Task startAsync(CancellationToken cancellationToken)
    {
        _stopping = new CancellationTokenSource();
        _running = Task.Run(() => RunAsync(_stopping.Token), CancellationToken.None);
        return Task.CompletedTask;
    }

    protected override async Task stopAsync(CancellationToken cancellationToken)
    {
        if (_stopping is null || _running is null) return;
        await _stopping.CancelAsync();
        try
        {
            await _running.WaitAsync(cancellationToken);
        }
        catch (OperationCanceledException)
        {
            // stopped, or the host's stop timed out
        }
        _stopping.Dispose();
        (_stopping, _running) = (null, null);
    }
}

/// <summary>
/// How many hosts share the database now: those whose heartbeat in Wolverine's node table is younger than
/// <see cref="ClusterOptions.StaleAfter"/>, read every <see cref="ClusterOptions.HeartbeatEvery"/>. The rate limits divide a
/// key's budget by it (RateLimits.cs). At least 1; 1 until the first read, and the last value while the table cannot be read.
/// </summary>
public sealed class LiveHosts
{
    private volatile int _count = 1;
    public int Count => _count;

    public sealed class Refresh(LiveHosts live, NpgsqlDataSource db, IConfiguration configuration, ILogger<Refresh> logger) : BackgroundService
    {
        protected override async Task ExecuteAsync(CancellationToken stoppingToken)
        {
            var options = configuration.GetSection("Ledger:Cluster").Get<ClusterOptions>() ?? new ClusterOptions();
            using var timer = new PeriodicTimer(options.HeartbeatEvery);
            do
            {
                try
                {
                    await using var cmd = db.CreateCommand($"""
                        select count(*)::int from {Cluster.Schema}.wolverine_nodes where health_check > now() - make_interval(secs => $1)
                        """);
                    cmd.Parameters.Add(new NpgsqlParameter<double> { TypedValue = options.StaleAfter.TotalSeconds });
                    var count = Math.Max(1, (int)(await cmd.ExecuteScalarAsync(stoppingToken))!);
                    if (count != live._count) logger.LogInformation("{Hosts} live hosts share the database: each takes 1/{Hosts} of a key's rate limit", count, count);
                    live._count = count;
                }
                catch (Exception e) when (!stoppingToken.IsCancellationRequested && e is NpgsqlException or TimeoutException or InvalidOperationException)
                {
                    // Before the start-up migration, or while the database is away: the last count stands.
                }
            }
            while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false));
        }
    }
}
