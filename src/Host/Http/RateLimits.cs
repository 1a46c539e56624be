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
/// A token bucket per API key on /v1 (per client address for requests without a valid key, which slows guessing).
/// Over the limit: 429 problem+json `rate_limited` with Retry-After, never the framework's bare 503.
/// </summary>
public static class RateLimits
{
    public static IServiceCollection AddLedgerRateLimits(this IServiceCollection services, IConfiguration configuration)
    {
        var limits = configuration.GetSection("Ledger:RateLimit").Get<RateLimitOptions>() ?? new RateLimitOptions();
        return services.AddRateLimiter(options =>
        {
            options.RejectionStatusCode = StatusCodes.Status429TooManyRequests;
            options.GlobalLimiter = PartitionedRateLimiter.Create<HttpContext, string>(context =>
            {
                if (!context.Request.Path.StartsWithSegments("/v1")) return RateLimitPartition.GetNoLimiter("unlimited");
                var partition = context.User.FindFirst("key_id")?.Value is { } keyId
                    ? $"key:{keyId}"
                    : $"address:{context.Connection.RemoteIpAddress}";
                return RateLimitPartition.GetTokenBucketLimiter(partition, _ => new TokenBucketRateLimiterOptions
                {
                    TokenLimit = Math.Max(1, limits.Burst),
                    TokensPerPeriod = Math.Max(1, limits.PermitsPerSecond),
                    ReplenishmentPeriod = TimeSpan.FromSeconds(1),
                    QueueLimit = 0,
                    AutoReplenishment = true,
                });
            });
            options.OnRejected = (context, _) =>
            {
                var seconds = context.Lease.TryGetMetadata(MetadataName.RetryAfter, out var wait) ? Math.Max(1, (int)Math.Ceiling(wait.TotalSeconds)) : 1;
                return new ValueTask(Problems.WriteAsync(context.HttpContext, new ApiProblem(429, "rate_limited", "Too many requests.",
                    $"This key is limited to {limits.PermitsPerSecond} requests per second (bursts of {limits.Burst}). Retry after {seconds.ToString(CultureInfo.InvariantCulture)} s.")
                    { RetryAfterSeconds = seconds }));
            };
        });
    }
}
