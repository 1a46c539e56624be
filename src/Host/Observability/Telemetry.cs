using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;

namespace Ledger.Host.Observability;

/// <summary>
/// OpenTelemetry for the host (decision 0018): metrics from Ledger's meter, ASP.NET Core, Npgsql, Marten, Wolverine and
/// the runtime, scraped by Prometheus at GET /metrics through OpenTelemetry's exporter.
/// </summary>
public static class Telemetry
{
    /// <summary>HTTP durations in seconds: the buckets Ledger's own exposition had, so dashboards keep their quantiles.</summary>
    private static readonly double[] DurationBuckets = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

    public static IServiceCollection AddLedgerTelemetry(this IServiceCollection services)
    {
        services.AddSingleton<DatabasePool>();
        services.AddSingleton<LedgerMeter>();
        services.AddOpenTelemetry()
            .ConfigureResource(resource => resource.AddService("ledger", serviceInstanceId: $"{Environment.MachineName}:{Environment.ProcessId}"))
            .WithMetrics(metrics => metrics
                .AddMeter(LedgerMeter.Name)
                // ASP.NET Core's request durations and Kestrel's connections. Not its other meters (routing, auth, rate
                // limiting, the memory pool): they record several measurements per request, and cost charges (decision 0018).
                .AddMeter("Microsoft.AspNetCore.Hosting", "Microsoft.AspNetCore.Server.Kestrel")
                .AddMeter("Npgsql")             // db.client.operation.duration, connection counts and waits, per pool
                .AddMeter("Marten")
                .AddMeter("Wolverine:*")
                .AddMeter("System.Runtime")     // the runtime and the process: GC, heap, thread pool, CPU time, working set
                .AddView("http.server.request.duration", new ExplicitBucketHistogramConfiguration { Boundaries = DurationBuckets })
                .AddPrometheusExporter());
        return services;
    }

    /// <summary>
    /// GET /metrics: Prometheus' text format (or OpenMetrics, when the scraper asks for it). The exporter's own pipeline,
    /// behind a route handler so that the route is in the OpenAPI document like every other.
    /// </summary>
    public static void MapLedgerMetrics(this WebApplication app)
    {
        app.Services.GetRequiredService<LedgerMeter>(); // the ledger_* instruments exist before the first scrape
        var scrape = ((IEndpointRouteBuilder)app).CreateApplicationBuilder().UseOpenTelemetryPrometheusScrapingEndpoint().Build();
        app.MapGet("/metrics", (HttpContext http, CancellationToken _) => scrape(http))
            .WithTags("Operations").WithName("PrometheusMetrics").WithSummary("Prometheus text exposition")
            .WithDescription("OpenTelemetry's Prometheus exporter: Ledger's business counters and pool gauges (ledger_*), HTTP server durations, Npgsql, Marten, Wolverine, the runtime and the process.")
            .Produces<string>(StatusCodes.Status200OK, "text/plain").WithMetadata(new Http.MalformedRequests());
    }
}
