using System.Diagnostics;
using Npgsql;

namespace Ledger.Host;

/// <summary>
/// Start-up's wait for PostgreSQL (issue 21). A host started before its database (a container platform without
/// compose's <c>service_healthy</c>, systemd, Kubernetes) tries again with backoff for <c>Ledger:Database:StartupWait</c>
/// (default two minutes), logging each try, instead of exiting at its first connection. Meanwhile its HTTP ports are
/// served by a stand-in that says so: /health/live 200, /health/ready 503, anything else 503 problem+json with
/// Retry-After. The migration runs once the database answers, and the real host takes the ports after it.
/// A wrong password or user fails at once: waiting cannot mend it.
/// </summary>
public static class DatabaseWait
{
    public static readonly TimeSpan DefaultLimit = TimeSpan.FromMinutes(2);
    private static readonly TimeSpan FirstDelay = TimeSpan.FromMilliseconds(250), LongestDelay = TimeSpan.FromSeconds(5);

    /// <summary>
    /// Waits for the database, then migrates it, answering on the host's ports meanwhile. Null: go on and run the host.
    /// Otherwise the exit code to end with (logged): 1 when the database never came or refused the credentials, 0 when
    /// the process was asked to stop (SIGTERM, Ctrl-C) while it waited.
    /// </summary>
    public static async Task<int?> ThenMigrateAsync(WebApplication app, string[] args)
    {
        var logger = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger(typeof(DatabaseWait));
        var limit = app.Configuration.GetValue("Ledger:Database:StartupWait", DefaultLimit);
        var state = new WaitState();
        if (await TryOnceAsync(app, state, CancellationToken.None))
        {
            await app.Services.MigrateAsync();
            return null;
        }

        // The stand-in's lifetime owns SIGTERM and Ctrl-C while it runs: its stopping token is the request to stop.
        await using var standIn = state.Fatal ? null : await StandInAsync(args, app.Environment.EnvironmentName, state);
        var stopping = standIn?.Lifetime.ApplicationStopping ?? CancellationToken.None;
        var clock = Stopwatch.StartNew();
        var delay = FirstDelay;
        try
        {
            while (true)
            {
                if (state.Fatal)
                {
                    logger.LogCritical("Ledger will not start: PostgreSQL refused its credentials ({Reason}); check ConnectionStrings:Ledger", state.Reason);
                    return 1;
                }
                if (clock.Elapsed >= limit)
                {
                    logger.LogCritical("Ledger will not start: the database did not answer within {Limit} ({Attempts} tries; the last said: {Reason})",
                        limit, state.Attempts, state.Reason);
                    return 1;
                }
                logger.LogWarning("Waiting for the database: try {Attempt} failed ({Reason}); next in {Delay} ms, giving up after {Limit}",
                    state.Attempts, state.Reason, (int)delay.TotalMilliseconds, limit);
                await Task.Delay(Min(delay, limit - clock.Elapsed), stopping); // the last try falls on the limit
                delay = Min(delay * 2, LongestDelay);
                if (await TryOnceAsync(app, state, stopping)) break;
            }
            logger.LogInformation("The database answered at try {Attempts}, after {Elapsed} ms; migrating", state.Attempts, (int)clock.Elapsed.TotalMilliseconds);
            state.Migrating = true;
            await app.Services.MigrateAsync(ct: stopping);
            return null; // the stand-in lets the ports go here; the host takes them as it starts
        }
        catch (OperationCanceledException) when (stopping.IsCancellationRequested)
        {
            logger.LogWarning("Stopped while waiting for the database ({Attempts} tries)", state.Attempts);
            return 0;
        }
    }

    private static TimeSpan Min(TimeSpan a, TimeSpan b) => a < b ? (a < TimeSpan.Zero ? TimeSpan.Zero : a) : b;

    private static async Task<bool> TryOnceAsync(WebApplication app, WaitState state, CancellationToken ct)
    {
        state.Attempts++;
        try
        {
            await using var command = app.Services.GetRequiredService<NpgsqlDataSource>().CreateCommand("select 1");
            await command.ExecuteScalarAsync(ct);
            return true;
        }
        catch (PostgresException e) when (e.SqlState is PostgresErrorCodes.InvalidPassword or PostgresErrorCodes.InvalidAuthorizationSpecification)
        {
            (state.Reason, state.Fatal) = (e.MessageText, true);
            return false;
        }
        catch (Exception e) when ((e is NpgsqlException or TimeoutException or System.Net.Sockets.SocketException) && !ct.IsCancellationRequested)
        {
            // Connection refused, no such host yet, "the database system is starting up", no such database yet...: all pass.
            state.Reason = e is PostgresException pg ? pg.MessageText : e.Message;
            return false;
        }
    }

    /// <summary>The host's HTTP ports (same arguments and environment, so the same --urls / ASPNETCORE_URLS), answering that it waits.</summary>
    private static async Task<WebApplication> StandInAsync(string[] args, string environment, WaitState state)
    {
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = args, EnvironmentName = environment });
        builder.Logging.ClearProviders();
        var standIn = builder.Build();
        standIn.MapGet("/health/live", () => Results.Json(new HealthBody("healthy", new Dictionary<string, string> { ["process"] = "healthy" }),
            HealthJson.Default.HealthBody));
        standIn.MapGet("/health/ready", () => Results.Json(new HealthBody("unhealthy", new Dictionary<string, string> { ["database"] = state.Describe() }),
            HealthJson.Default.HealthBody, statusCode: StatusCodes.Status503ServiceUnavailable));
        standIn.MapFallback(async context =>
        {
            await Http.Problems.WriteAsync(context, new Http.ApiProblem(503, "service_unavailable", "Ledger is starting.",
                $"The ledger is starting ({state.Describe()}); try again shortly.") { RetryAfterSeconds = 2 });
        });
        await standIn.StartAsync();
        return standIn;
    }

    private sealed class WaitState
    {
        public int Attempts;
        public volatile string Reason = "";
        public bool Fatal;
        public volatile bool Migrating;
        public string Describe() => Migrating ? "reachable, applying migrations" : $"waiting for the database: try {Attempts}, {Reason}";
    }
}
