using Ledger.EventStore;
using Microsoft.Extensions.Options;
using Npgsql;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace Ledger.Host.Observability;

/// <summary>
/// OpenTelemetry for the host: metrics from Ledger's meter, ASP.NET Core, Npgsql, Marten, Wolverine and the runtime,
/// scraped by Prometheus at GET /metrics through OpenTelemetry's exporter (decision 0018); traces through OTLP or the
/// console when configured (decision 0019).
/// </summary>
public static class Telemetry
{
    /// <summary>HTTP durations in seconds: the buckets Ledger's own exposition had, so dashboards keep their quantiles.</summary>
    private static readonly double[] DurationBuckets = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

    public static IServiceCollection AddLedgerTelemetry(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddSingleton<DatabasePool>();
        services.AddSingleton<LedgerMeter>();
        services.AddOptions<TracingOptions>().Bind(configuration.GetSection(TracingOptions.Section)).ValidateOnStart();
        services.AddSingleton<IValidateOptions<TracingOptions>, TracingOptions.Validation>();
        var telemetry = services.AddOpenTelemetry()
            .ConfigureResource(resource => resource.AddService("ledger", serviceInstanceId: $"{Environment.MachineName}:{Environment.ProcessId}"));
        var tracing = TracingOptions.From(configuration);
        if (tracing.Exporting) telemetry.WithTracing(traces => Traces(traces, tracing));
        telemetry
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
    /// Traces (decision 0019), only when an exporter is configured: ASP.NET Core's request spans (not probes or scrapes),
    /// Wolverine's message spans, Marten's connection spans, Npgsql's command spans, HttpClient's (webhook deliveries) and
    /// Ledger's own. Sampled by trace id at <see cref="TracingOptions.SampleRatio"/>: a caller's traceparent sets the trace
    /// id but not the decision (its sampled flag is not trusted), while work that follows a request (a message, a webhook
    /// delivery) keeps the request's decision.
    /// </summary>
    private static void Traces(TracerProviderBuilder traces, TracingOptions options)
    {
        var ratio = new TraceIdRatioBasedSampler(options.SampleRatio);
        traces
            .SetSampler(new ParentBasedSampler(ratio, remoteParentSampled: ratio, remoteParentNotSampled: ratio))
            .AddSource(LedgerActivity.SourceName, "Wolverine", "Marten", "System.Net.Http")
            .AddAspNetCoreInstrumentation(aspnet => aspnet.Filter = http =>
                !http.Request.Path.StartsWithSegments("/health") && !http.Request.Path.StartsWithSegments("/metrics"))
            .AddNpgsql();
        switch (options.Exporter)
        {
            case TracingOptions.Otlp:
                traces.AddOtlpExporter(); // endpoint, protocol and headers from the standard OTEL_EXPORTER_OTLP_* variables
                break;
            case TracingOptions.Console:
                traces.AddConsoleExporter();
                break;
        }
    }

    /// <summary>
    /// The command line's traces (a rebuild's phases, an audit's reads), exported as the host's are when configured, as
    /// service "ledger-cli"; null when no exporter is. Disposing it flushes what is left.
    /// </summary>
    public static TracerProvider? CommandLineTracing(IConfiguration configuration)
    {
        var options = TracingOptions.From(configuration);
        if (!options.Exporting) return null;
        var traces = OpenTelemetry.Sdk.CreateTracerProviderBuilder()
            .ConfigureResource(resource => resource.AddService("ledger-cli", serviceInstanceId: $"{Environment.MachineName}:{Environment.ProcessId}"));
        Traces(traces, options);
        return traces.Build();
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
