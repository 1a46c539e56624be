using Ledger.Host.Grpc;
using Ledger.Host.Http;
using Ledger.Host.Observability;
using Ledger.Host.WebConsole;
using Serilog;
using Serilog.Formatting.Json;
using Wolverine;
using Wolverine.Http;

namespace Ledger.Host;

/// <summary>The HTTP host: logging, services, the pipeline and the routes.</summary>
public static class LedgerApi
{
    /// <param name="configuration">Values that win over appsettings and the environment (the command line's connection string).</param>
    public static WebApplication Build(string[] args, IReadOnlyDictionary<string, string?>? configuration = null)
    {
        var builder = WebApplication.CreateBuilder(args);
        if (configuration is not null) builder.Configuration.AddInMemoryCollection(configuration);
        // Serilog.AspNetCore: Serilog is the logger, and writes one line per request (below). Providers added after
        // this (a test's log capture) are fed by Serilog too.
        builder.Logging.ClearProviders();
        // preserveStaticLogger: each host has a logger of its own, never the process-wide Log.Logger (tests run several hosts).
        builder.Services.AddSerilog((_, logger) => ConfigureLogger(logger, builder.Configuration, builder.Environment),
            preserveStaticLogger: true, writeToProviders: true);
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.Limits.MaxRequestBodySize = JsonBody.MaxBytes);
        builder.ListenForGrpc(); // gRPC's own HTTP/2 endpoint, when Ledger:Grpc:Url is set (Grpc/GrpcSetup.cs)
        builder.Services.AddLedger(builder.Configuration);
        // Wolverine.Http: the endpoints are the static classes with [WolverineGet]/[WolverinePost] methods in this
        // assembly. Their handler code is generated ahead (`make codegen`, Internal/Generated) and loaded as compiled
        // types: Wolverine 6 brings no compiler to run time.
        builder.Host.UseWolverine(wolverine =>
        {
            wolverine.ApplicationAssembly = typeof(LedgerApi).Assembly;
            wolverine.Discovery.DisableConventionalDiscovery();
            wolverine.CodeGeneration.TypeLoadMode = JasperFx.CodeGeneration.TypeLoadMode.Static;
            Cluster.Configure(wolverine, builder.Configuration);
            Webhooks.Webhooks.Configure(wolverine);
            Notifications.Broker.Configure(wolverine, builder.Configuration);
            // Messages as the API writes JSON (camelCase), for whoever reads them off the broker.
            wolverine.UseSystemTextJsonForSerialization(json => json.PropertyNamingPolicy = System.Text.Json.JsonNamingPolicy.CamelCase);
        });
        builder.Services.AddWolverineHttp();

        var app = builder.Build();
        app.UseForwardedClients(); // the client's address from a trusted balancer's X-Forwarded-For, before anything reads it
        app.UseCorrelationIds();
        // One line per request (Http/RequestLog.cs), inside the correlation id's scope.
        app.UseSerilogRequestLogging(options => RequestLog.Configure(options, app.Services.GetRequiredService<Serilog.ILogger>()));
        app.UseProblemAnswers();
        // What routing answers itself (no such path, wrong method) is problem+json too.
        app.UseStatusCodePages(context => context.HttpContext.Response.StatusCode switch
        {
            // No such gRPC method (gRPC maps no catch-all routes): UNIMPLEMENTED, in gRPC's terms.
            404 when GrpcErrors.IsGrpc(context.HttpContext.Request) => GrpcErrors.WriteAsync(context.HttpContext,
                new ApiProblem(501, "unimplemented", "No such method.", "This service has no such method; see proto/ledger/v1.")),
            404 => Problems.WriteAsync(context.HttpContext, new ApiProblem(404, "not_found", "Not found.", "No endpoint at this path; see /openapi/v1.json.")),
            405 => Problems.WriteAsync(context.HttpContext, new ApiProblem(405, "method_not_allowed", "Method not allowed.", "This path does not take that method.")),
            _ => Task.CompletedTask,
        });
        app.UseLedgerConsole(); // its pages' headers and error pages, before authentication answers for it
        app.UseAuthentication();
        app.UseRateLimiter();
        app.UseGrpcMessageCheck(); // a gRPC request message protobuf cannot read: INVALID_ARGUMENT (Grpc/GrpcMessageCheck.cs)
        app.UseAuthorization();
        app.Services.GetRequiredService<ReadReplica>().StampWrites(app);
        app.MapLedgerOpenApi();
        app.MapLedgerHealth();
        app.MapWolverineEndpoints();
        app.MapLedgerMetrics();
        app.MapLedgerGrpc();
        return app;
    }

    /// <summary>
    /// JSON lines in production, readable text in development. Card data and keys never reach a log call. Serilog takes the
    /// trace and span ids of the current activity onto each event: JSON's TraceId and SpanId, the text's last field.
    /// </summary>
    private static void ConfigureLogger(LoggerConfiguration logger, IConfiguration configuration, IHostEnvironment environment)
    {
        logger
            .MinimumLevel.Information()
            .MinimumLevel.Override("Microsoft.AspNetCore", Serilog.Events.LogEventLevel.Warning)
            .ReadFrom.Configuration(configuration)
            .Enrich.FromLogContext();
        if (environment.IsDevelopment())
            logger.WriteTo.Console(outputTemplate: "[{Timestamp:HH:mm:ss} {Level:u3}] {Message:lj} {Properties:j} {TraceId}{NewLine}{Exception}");
        else
            logger.WriteTo.Console(new JsonFormatter(renderMessage: true));
    }
}
