using Ledger.Host.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace Ledger.Host.Grpc;

/// <summary>
/// The gRPC surface (decision 0020): ledger.v1.Payments over HTTP/2 on an endpoint of its own (<see cref="ListenForGrpc"/>),
/// gRPC health checking (grpc.health.v1, from the same checks as /health/ready) and server reflection. Messages are
/// limited like HTTP bodies.
/// </summary>
public static class GrpcSetup
{
    public static IServiceCollection AddLedgerGrpc(this IServiceCollection services, IConfiguration configuration)
    {
        services.Configure<GrpcOptions>(configuration.GetSection("Ledger:Grpc"));
        services.AddGrpc(grpc =>
        {
            grpc.MaxReceiveMessageSize = JsonBody.MaxBytes;
            grpc.EnableDetailedErrors = false;
            // No catch-all routes for unknown services: they would make the HTTP API's wrong-method answers 404s rather than
            // 405s. An unknown gRPC method is then a routing 404, which gRPC clients read as UNIMPLEMENTED.
            grpc.IgnoreUnknownServices = true;
            grpc.Interceptors.Add<GrpcErrors.Interceptor>();
        });
        services.AddGrpcReflection();
        // grpc.health.v1: the service "" and ledger.v1.Payments are SERVING exactly when /health/ready is 200.
        services.AddGrpcHealthChecks(health =>
        {
            health.Services.Map("", check => check.Tags.Contains("ready"));
            health.Services.Map("ledger.v1.Payments", check => check.Tags.Contains("ready"));
            health.Services.Map("ledger.v1.Audit", check => check.Tags.Contains("ready"));
        });
        return services;
    }

    public const string UrlSetting = "Ledger:Grpc:Url";

    /// <summary>
    /// With <c>Ledger:Grpc:Url</c> set, an HTTP/2-only endpoint there for gRPC, beside the HTTP API's addresses (<c>--urls</c>,
    /// ASPNETCORE_URLS) kept as they were. Cleartext HTTP/2 needs an endpoint of its own: without TLS there is no ALPN to
    /// choose the protocol, and Kestrel answers a prior-knowledge HTTP/2 client on an HTTP/1.1-and-2 endpoint with
    /// HTTP_1_1_REQUIRED. Unset: no gRPC endpoint (the tests' many hosts, a host behind a balancer that terminates TLS and
    /// speaks HTTP/2 to the API's own port can set it to that port's URL instead).
    /// </summary>
    public static void ListenForGrpc(this WebApplicationBuilder builder)
    {
        if (builder.Configuration[UrlSetting] is not { Length: > 0 } grpcUrl) return;
        var urls = (builder.Configuration[WebHostDefaults.ServerUrlsKey] is { Length: > 0 } configured ? configured : "http://localhost:5000")
            .Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var endpoints = new Dictionary<string, string?>
        {
            ["Endpoints:Grpc:Url"] = grpcUrl,
            ["Endpoints:Grpc:Protocols"] = nameof(HttpProtocols.Http2),
        };
        for (var i = 0; i < urls.Length; i++) endpoints[$"Endpoints:Http{i}:Url"] = urls[i];
        // The addresses are now Kestrel's endpoints; left in place, they would be reported as overridden at start.
        builder.WebHost.UseSetting(WebHostDefaults.ServerUrlsKey, "");
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.Configure(new ConfigurationBuilder().AddInMemoryCollection(endpoints).Build()));
    }

    public static void MapLedgerGrpc(this WebApplication app)
    {
        app.MapGrpcService<PaymentsService>();
        app.MapGrpcService<AuditService>();
        app.MapGrpcHealthChecksService();
        app.MapGrpcReflectionService();
    }
}
