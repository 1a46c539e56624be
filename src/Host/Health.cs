using System.Text.Json;
using Ledger.EventStore;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Ledger.Host;

/// <summary>/health/live: the process answers. /health/ready: the database answers and its schema is current.</summary>
public static class Health
{
    public static IServiceCollection AddLedgerHealth(this IServiceCollection services)
    {
        services.AddHealthChecks()
            .AddCheck("process", () => HealthCheckResult.Healthy(), tags: ["live"])
            .AddCheck<DatabaseReady>("database", tags: ["ready"]);
        return services;
    }

    public static void MapLedgerHealth(this IEndpointRouteBuilder app)
    {
        app.MapGet("/health/live", (HealthCheckService health, CancellationToken ct) => Check(health, "live", ct))
            .WithTags("Operations").WithName("Live").WithSummary("The process answers")
            .WithDescription("Liveness: does not touch the database.")
            .Produces<HealthBody>().Produces<HealthBody>(StatusCodes.Status503ServiceUnavailable);
        app.MapGet("/health/ready", (HealthCheckService health, CancellationToken ct) => Check(health, "ready", ct))
            .WithTags("Operations").WithName("Ready").WithSummary("The database answers and its schema is current")
            .WithDescription("Readiness: 503 while the database is unreachable or its schema is behind.")
            .Produces<HealthBody>().Produces<HealthBody>(StatusCodes.Status503ServiceUnavailable);
    }

    private static async Task<IResult> Check(HealthCheckService health, string tag, CancellationToken ct)
    {
        var report = await health.CheckHealthAsync(c => c.Tags.Contains(tag), ct);
        var body = new HealthBody(report.Status.ToString().ToLowerInvariant(),
            report.Entries.ToDictionary(e => e.Key, e => e.Value.Description ?? e.Value.Status.ToString().ToLowerInvariant()));
        return Results.Text(JsonSerializer.Serialize(body, HealthJson.Default.HealthBody), "application/json", statusCode:
            report.Status == HealthStatus.Healthy ? StatusCodes.Status200OK : StatusCodes.Status503ServiceUnavailable);
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

[System.Text.Json.Serialization.JsonSourceGenerationOptions(PropertyNamingPolicy = System.Text.Json.Serialization.JsonKnownNamingPolicy.CamelCase)]
[System.Text.Json.Serialization.JsonSerializable(typeof(HealthBody))]
internal sealed partial class HealthJson : System.Text.Json.Serialization.JsonSerializerContext;
