using Polly;
using Polly.Retry;

namespace Ledger.Host.Gateway;

public sealed class GatewayRetryOptions
{
    public int MaxRetries { get; set; } = 3;
    public TimeSpan BaseDelay { get; set; } = TimeSpan.FromMilliseconds(100);
}

/// <summary>Asks again, with exponential backoff and jitter, when the gateway's answer is transient.</summary>
public sealed class RetryingGateway(IPaymentGateway inner, GatewayRetryOptions options, ILogger<RetryingGateway> logger) : IPaymentGateway
{
    private readonly ResiliencePipeline<GatewayOutcome> _pipeline = new ResiliencePipelineBuilder<GatewayOutcome>()
        .AddRetry(new RetryStrategyOptions<GatewayOutcome>
        {
            MaxRetryAttempts = Math.Max(1, options.MaxRetries),
            Delay = options.BaseDelay,
            BackoffType = DelayBackoffType.Exponential,
            UseJitter = true,
            ShouldHandle = new PredicateBuilder<GatewayOutcome>().HandleResult(o => o is GatewayOutcome.Declined { Transient: true }),
            OnRetry = args =>
            {
                logger.LogWarning("Gateway answered a transient error; retry {Attempt}", args.AttemptNumber + 1);
                return ValueTask.CompletedTask;
            },
        })
        .Build();

    public Task<GatewayOutcome> ChargeAsync(GatewayCharge charge, CancellationToken ct) =>
        _pipeline.ExecuteAsync(async token => await inner.ChargeAsync(charge, token), ct).AsTask();

    public Task<GatewayOutcome> LookupAsync(string gatewayKey, CancellationToken ct) => inner.LookupAsync(gatewayKey, ct);
}
