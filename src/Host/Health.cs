using System.Text.Json;
using Ledger.EventStore;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Ledger.Host;

/// <summary>
/// /health/live: the process answers. /health/ready: the database answers, its schema is current, the read tables are
/// there (503 otherwise); and whether its commits are also on a synchronous standby (200 "degraded" when one is expected and away).
/// </summary>
public static class Health
{
    public static IServiceCollection AddLedgerHealth(this IServiceCollection services)
    {
        services.AddHealthChecks()
            .AddCheck("process", () => HealthCheckResult.Healthy(), tags: ["live"])
            .AddCheck<DatabaseReady>("database", tags: ["ready"])
            .AddCheck<ProjectionsReady>("projections", tags: ["ready"])
            .AddCheck<SynchronousStandby>("standby", tags: ["ready"]);
        return services;
    }

    public static void MapLedgerHealth(this IEndpointRouteBuilder app)
    {
        app.MapGet("/health/live", (HealthCheckService health, CancellationToken ct) => Check(health, "live", ct))
            .WithTags("Operations").WithName("Live").WithSummary("The process answers")
            .WithDescription("Liveness: does not touch the database.")
            .Produces<HealthBody>().Produces<HealthBody>(StatusCodes.Status503ServiceUnavailable).WithMetadata(new Ledger.Host.Http.MalformedRequests());
        app.MapGet("/health/ready", (HealthCheckService health, CancellationToken ct) => Check(health, "ready", ct))
            .WithTags("Operations").WithName("Ready").WithSummary("The database answers and its schema is current")
            .WithDescription("Readiness: 503 while the database is unreachable or its schema is behind.")
            .Produces<HealthBody>().Produces<HealthBody>(StatusCodes.Status503ServiceUnavailable).WithMetadata(new Ledger.Host.Http.MalformedRequests());
    }

    private static async Task<IResult> Check(HealthCheckService health, string tag, CancellationToken ct)
    {
        var report = await health.CheckHealthAsync(c => c.Tags.Contains(tag), ct);
        var body = new HealthBody(report.Status.ToString().ToLowerInvariant(),
            report.Entries.ToDictionary(e => e.Key, e => e.Value.Description ?? e.Value.Status.ToString().ToLowerInvariant()));
        return Results.Text(JsonSerializer.Serialize(body, HealthJson.Default.HealthBody), "application/json", statusCode:
            // Degraded (the database's standby is away) still serves: 200, with "status": "degraded".
            report.Status == HealthStatus.Unhealthy ? StatusCodes.Status503ServiceUnavailable : StatusCodes.Status200OK);
    }

    private sealed class DatabaseReady(SchemaMigrator migrator) : IHealthCheck
    {
        public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken ct = default)
        {
            try
            {
                var pending = await migrator.PendingAsync(LedgerServices.AllMigrations, ct);
                return pending.Count == 0
                    ? HealthCheckResult.Healthy("reachable, schema current")
                    : HealthCheckResult.Unhealthy($"schema behind: {string.Join(", ", pending.Select(m => $"{m.Module}/{m.Name}"))}");
            }
            catch (Exception e) when (e is Npgsql.NpgsqlException or TimeoutException)
            {
                return HealthCheckResult.Unhealthy("database unreachable");
            }
        }
    }
}

public sealed record HealthBody(string Status, IReadOnlyDictionary<string, string> Checks);

/// <summary>
/// Inline projections commit with the events, so they are never behind the log; what can go wrong is a read
/// table missing (dropped by hand, a botched manual swap).
/// </summary>
internal sealed class ProjectionsReady(Npgsql.NpgsqlDataSource db) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken ct = default)
    {
        var tables = Ledger.Projections.ReadModelTables.All.Select(t => t.Name).ToArray();
        try
        {
            await using var cmd = db.CreateCommand("select array(select t from unnest($1::text[]) t where to_regclass('public.' || t) is null)");
            cmd.Parameters.Add(new Npgsql.NpgsqlParameter { Value = tables });
            var missing = (string[])(await cmd.ExecuteScalarAsync(ct))!;
            return missing.Length == 0
                ? HealthCheckResult.Healthy("inline, current with every commit")
                : HealthCheckResult.Unhealthy($"missing read tables: {string.Join(", ", missing)}; run `projections rebuild`");
        }
        catch (Exception e) when (e is Npgsql.NpgsqlException or TimeoutException)
        {
            return HealthCheckResult.Unhealthy("database unreachable");
        }
    }
}

[System.Text.Json.Serialization.JsonSourceGenerationOptions(PropertyNamingPolicy = System.Text.Json.Serialization.JsonKnownNamingPolicy.CamelCase)]
[System.Text.Json.Serialization.JsonSerializable(typeof(HealthBody))]
internal sealed partial class HealthJson : System.Text.Json.Serialization.JsonSerializerContext;
