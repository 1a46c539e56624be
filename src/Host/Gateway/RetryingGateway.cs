using System.Diagnostics;
using Ledger.EventStore;
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

    /// <summary>The charge, retries and all, in one span "ledger.gateway.charge" with its outcome and decline code.</summary>
    public async Task<GatewayOutcome> ChargeAsync(GatewayCharge charge, CancellationToken ct)
    {
        using var span = LedgerActivity.Start("ledger.gateway.charge", ActivityKind.Client);
        span?.SetTag("ledger.payment.id", charge.GatewayKey);
        var attempts = 0;
        try
        {
            var outcome = await _pipeline.ExecuteAsync(async token => { attempts++; return await inner.ChargeAsync(charge, token); }, ct);
            Tag(span, outcome);
            span?.SetTag("ledger.gateway.attempts", attempts);
            return outcome;
        }
        catch (Exception e) when (span.RecordsFailure(e))
        {
            throw; // never reached: the filter records the failure and lets the exception go on
        }
    }

    /// <summary>After a crash, what became of a charge: span "ledger.gateway.lookup".</summary>
    public async Task<GatewayOutcome> LookupAsync(string gatewayKey, CancellationToken ct)
    {
        using var span = LedgerActivity.Start("ledger.gateway.lookup", ActivityKind.Client);
        span?.SetTag("ledger.payment.id", gatewayKey);
        try
        {
            var outcome = await inner.LookupAsync(gatewayKey, ct);
            Tag(span, outcome);
            return outcome;
        }
        catch (Exception e) when (span.RecordsFailure(e))
        {
            throw;
        }
    }

    private static void Tag(Activity? span, GatewayOutcome outcome)
    {
        if (span is null) return;
        switch (outcome)
        {
            case GatewayOutcome.Approved:
                span.SetTag("ledger.gateway.outcome", "approved");
                break;
            case GatewayOutcome.Declined declined:
                span.SetTag("ledger.gateway.outcome", "declined");
                span.SetTag("ledger.gateway.decline_code", declined.Code);
                break;
        }
    }
}
