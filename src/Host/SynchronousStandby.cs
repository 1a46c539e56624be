using System.Diagnostics.Metrics;
using Ledger.Host.Http;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Ledger.Host;

/// <summary>What a host expects of the primary's synchronous standby (issue 20, docs/operations.md "High availability").</summary>
public enum StandbyPolicy
{
    /// <summary>A single server: nothing is expected, nothing is reported as missing (the default, `make run`).</summary>
    None,
    /// <summary>A synchronous standby is expected; while there is none the primary acknowledges commits alone, and /health/ready and /metrics say so.</summary>
    Expected,
    /// <summary>As Expected, and while there is none, charges and refunds are refused (503 no_synchronous_standby) instead.</summary>
    Required,
}

public sealed class SynchronousStandbyOptions
{
    /// <summary>Ledger:Database:SynchronousStandby: none, expected or required.</summary>
    public StandbyPolicy SynchronousStandby { get; set; } = StandbyPolicy.None;

    /// <summary>Ledger:Database:SynchronousStandbyCheckEvery: how often the primary is asked whether a synchronous standby confirms its commits.</summary>
    public TimeSpan SynchronousStandbyCheckEvery { get; set; } = TimeSpan.FromSeconds(1);
}

/// <summary>
/// Whether each commit the ledger acknowledges is also on a standby. With pg_auto_failover, a primary whose standby is
/// away becomes <c>wait_primary</c>: it empties <c>synchronous_standby_names</c> and acknowledges commits alone, which
/// a failover at that moment could not recover. This asks the primary every <see cref="SynchronousStandbyOptions.SynchronousStandbyCheckEvery"/>
/// (one query on <c>pg_stat_replication</c>) and tells /health/ready ("standby"), /metrics
/// (<c>ledger_database_synchronous_standbys</c>) and, with the policy <see cref="StandbyPolicy.Required"/>, the writes.
/// </summary>
public sealed class SynchronousStandby : BackgroundService, IHealthCheck
{
    private readonly NpgsqlDataSource _db;
    private readonly SynchronousStandbyOptions _options;
    private readonly ILogger<SynchronousStandby> _logger;
    private volatile Sample? _last;

    private sealed record Sample(int Synchronous, int Streaming, string Names);

    public SynchronousStandby(NpgsqlDataSource db, IOptions<SynchronousStandbyOptions> options, ILogger<SynchronousStandby> logger, IMeterFactory meters)
    {
        (_db, _options, _logger) = (db, options.Value, logger);
        if (_options.SynchronousStandby != StandbyPolicy.None)
            meters.Create(Observability.LedgerMeter.Name).CreateObservableGauge("ledger.database.synchronous_standbys",
                () => _last is { } s ? [new Measurement<int>(s.Synchronous)] : Array.Empty<Measurement<int>>(),
                description: "Standbys that confirm each commit before the primary acknowledges it (0: the primary acknowledges alone).");
    }

    /// <summary>The primary acknowledges commits alone (as far as the last look knows), and a standby is expected.</summary>
    public bool Alone => _options.SynchronousStandby != StandbyPolicy.None && _last is { Synchronous: 0 };

    /// <summary>Refuses a write while there is no synchronous standby, if the policy says so.</summary>
    public void EnsureWritable()
    {
        if (_options.SynchronousStandby == StandbyPolicy.Required && Alone)
            throw new ApiProblem(503, "no_synchronous_standby", "Writes are refused while the database has no synchronous standby.",
                "The database's standby is away, and this ledger is set to refuse charges and refunds rather than keep them on one server " +
                "(Ledger:Database:SynchronousStandby=required). Retry later with the same Idempotency-Key.") { RetryAfterSeconds = 5 };
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (_options.SynchronousStandby == StandbyPolicy.None) return;
        using var timer = new PeriodicTimer(_options.SynchronousStandbyCheckEvery);
        do
        {
            var before = _last;
            try
            {
                _last = await LookAsync(stoppingToken);
            }
            catch (Exception e) when ((e is NpgsqlException or TimeoutException) && !stoppingToken.IsCancellationRequested)
            {
                _last = null; // unknown: the database check says the rest
            }
            if (_last is { Synchronous: 0 } && before is not { Synchronous: 0 })
                _logger.LogWarning("The database has no synchronous standby: commits are acknowledged by the primary alone ({Streaming} standbys streaming, synchronous_standby_names '{Names}')",
                    _last.Streaming, _last.Names);
            else if (_last is { Synchronous: > 0 } && before is { Synchronous: 0 })
                _logger.LogInformation("The database has a synchronous standby again: {Synchronous} confirm each commit", _last.Synchronous);
        }
        while (await timer.WaitForNextTickAsync(stoppingToken));
    }

    private async Task<Sample> LookAsync(CancellationToken ct)
    {
        await using var cmd = _db.CreateCommand("""
            select (select count(*) from pg_stat_replication where sync_state in ('sync', 'quorum'))::int,
                   (select count(*) from pg_stat_replication where state = 'streaming')::int,
                   current_setting('synchronous_standby_names')
            """);
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        await reader.ReadAsync(ct);
        return new Sample(reader.GetInt32(0), reader.GetInt32(1), reader.GetString(2));
    }

    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken ct = default) => Task.FromResult(
        (_options.SynchronousStandby, _last) switch
        {
            (StandbyPolicy.None, _) => HealthCheckResult.Healthy("not expected (single server)"),
            (_, null) => HealthCheckResult.Healthy("unknown (not asked yet, or the database is unreachable)"),
            (_, { Synchronous: > 0 } s) => HealthCheckResult.Healthy($"synchronous: {s.Synchronous} standby confirms each commit"),
            (StandbyPolicy.Required, _) => HealthCheckResult.Degraded(
                "alone: no synchronous standby; charges and refunds are refused until one is back (Ledger:Database:SynchronousStandby=required)"),
            _ => HealthCheckResult.Degraded("alone: no synchronous standby; commits are acknowledged by the primary only, and no failover is possible until one is back"),
        });
}
