using System.Globalization;
using System.Threading.RateLimiting;
using Microsoft.AspNetCore.RateLimiting;

namespace Ledger.Host.Http;

public sealed class RateLimitOptions
{
    /// <summary>Sustained requests per second per API key.</summary>
    public int PermitsPerSecond { get; set; } = 2000;

    /// <summary>How many requests a key may make at once above the sustained rate.</summary>
    public int Burst { get; set; } = 4000;
}

/// <summary>
/// A token bucket per API key on /v1 and gRPC's ledger.v1 services, shared (per client address for requests without a valid key, which slows guessing, and
/// for the console's sign-in attempts).
/// Over the limit: 429 problem+json `rate_limited` with Retry-After, never the framework's bare 503.
/// <para>
/// The limits are the cluster's: with N live hosts (<see cref="LiveHosts"/>) each host's bucket holds 1/N of the rate and
/// of the burst, so a key spread over the hosts by a balancer gets the configured budget, not N times it. No request
/// waits for the database to be counted. The error: a key whose requests reach the hosts unevenly is refused before its
/// budget (a host that gets more than 1/N of them empties its share first); while a host joins or dies the others keep
/// the old N for up to Ledger:Cluster:HeartbeatEvery. A bucket is new when N changes (its partition is keyed by N).
/// </para>
/// </summary>
public static class RateLimits
{
    public static IServiceCollection AddLedgerRateLimits(this IServiceCollection services, IConfiguration configuration)
    {
        var limits = configuration.GetSection("Ledger:RateLimit").Get<RateLimitOptions>() ?? new RateLimitOptions();
        services.AddSingleton<LiveHosts>();
        services.AddHostedService<LiveHosts.Refresh>();
        return services.AddRateLimiter(options =>
        {
            options.RejectionStatusCode = StatusCodes.Status429TooManyRequests;
            options.GlobalLimiter = PartitionedRateLimiter.Create<HttpContext, string>(context =>
            {
                // The API over HTTP and gRPC (/ledger.v1.Payments/...: one budget per key for both), and the console's sign-in
                // form (a key guessed there is as good as one guessed on the API).
                if (!context.Request.Path.StartsWithSegments("/v1") && context.Request.Path.Value?.StartsWith("/ledger.v1.", StringComparison.Ordinal) != true
                    && !WebConsole.SignIn.IsAttempt(context.Request))
                    return RateLimitPartition.GetNoLimiter("unlimited");
                var hosts = context.RequestServices.GetRequiredService<LiveHosts>().Count;
                var partition = context.User.FindFirst("key_id")?.Value is { } keyId
                    ? $"key:{keyId}/{hosts}"
                    : $"address:{context.Connection.RemoteIpAddress}/{hosts}";
                return RateLimitPartition.GetTokenBucketLimiter(partition, _ => new TokenBucketRateLimiterOptions
                {
                    TokenLimit = Math.Max(1, (limits.Burst + hosts - 1) / hosts),
                    TokensPerPeriod = Math.Max(1, (limits.PermitsPerSecond + hosts - 1) / hosts),
                    ReplenishmentPeriod = TimeSpan.FromSeconds(1),
                    QueueLimit = 0,
                    AutoReplenishment = true,
                });
            });
            options.OnRejected = (context, _) =>
            {
                var seconds = context.Lease.TryGetMetadata(MetadataName.RetryAfter, out var wait) ? Math.Max(1, (int)Math.Ceiling(wait.TotalSeconds)) : 1;
                if (WebConsole.SignIn.IsAttempt(context.HttpContext.Request))
                {
                    context.HttpContext.Response.Headers.RetryAfter = seconds.ToString(CultureInfo.InvariantCulture);
                    return new ValueTask(WebConsole.ConsoleHtml.Problem(context.HttpContext, 429, "Too many attempts.",
                        $"Too many sign-in attempts from this address. Try again in {seconds.ToString(CultureInfo.InvariantCulture)} s.").ExecuteAsync(context.HttpContext));
                }
                var problem = new ApiProblem(429, "rate_limited", "Too many requests.",
                    $"This key is limited to {limits.PermitsPerSecond} requests per second (bursts of {limits.Burst}). Retry after {seconds.ToString(CultureInfo.InvariantCulture)} s.")
                    { RetryAfterSeconds = seconds };
                // A gRPC call is refused in gRPC's terms: RESOURCE_EXHAUSTED with a RetryInfo, not an HTTP 429 its client cannot read.
                return Grpc.GrpcErrors.IsGrpc(context.HttpContext.Request)
                    ? new ValueTask(Grpc.GrpcErrors.WriteAsync(context.HttpContext, problem))
                    : new ValueTask(Problems.WriteAsync(context.HttpContext, problem));
            };
        });
    }
}
