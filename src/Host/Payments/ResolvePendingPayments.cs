using Ledger.Domain.Payments;
using Ledger.EventStore;
using Ledger.Host.Http;
using Microsoft.Extensions.Options;
using Npgsql;
using static Ledger.Domain.Payments.PaymentEvent;

namespace Ledger.Host.Payments;

public sealed class SweepOptions
{
    public TimeSpan Interval { get; set; } = TimeSpan.FromSeconds(10);
    /// <summary>A payment pending longer than this (and whose key's lease ran out) is resolved.</summary>
    public TimeSpan PendingAfter { get; set; } = TimeSpan.FromSeconds(60);
}

/// <summary>
/// The background sweep: resolves payments left pending by a crash, by asking the gateway again with the same
/// key, and forgets idempotency keys past their retention. A Wolverine singular agent (`ledger-sweep://`): of the
/// hosts sharing the database exactly one runs it, and when that host goes away the leader gives it to another.
/// </summary>
public sealed class ResolvePendingPayments(
    NpgsqlDataSource db,
    EventLog<PaymentEvent> store,
    Idempotency idempotency,
    ChargeCompletion completion,
    TimeProvider clock,
    IOptions<SweepOptions> options,
    ILogger<ResolvePendingPayments> logger) : LoopingAgent("ledger-sweep")
{
    protected override async Task RunAsync(CancellationToken stoppingToken)
    {
        logger.LogInformation("Pending-payment sweep started on this host, every {Interval}", options.Value.Interval);
        using var timer = new PeriodicTimer(options.Value.Interval, clock);
        do
        {
            try
            {
                await SweepOnceAsync(stoppingToken);
            }
            catch (Exception e) when (e is NpgsqlException or TimeoutException)
            {
                logger.LogWarning("Sweep skipped: database unavailable ({Message})", e.Message);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                logger.LogError(e, "Sweep failed; it runs again at the next interval");
            }
        } while (await timer.WaitForNextTickAsync(stoppingToken));
    }

    public async Task<int> SweepOnceAsync(CancellationToken ct)
    {
        var pruned = await idempotency.PruneAsync(ct);
        if (pruned > 0) logger.LogInformation("Forgot {Count} expired idempotency keys", pruned);

        var resolved = 0;
        foreach (var paymentId in await StalePendingAsync(ct))
        {
            try
            {
                if (await ResolveAsync(paymentId, ct)) resolved++;
            }
            catch (Exception e) when (e is not OperationCanceledException && e is not NpgsqlException)
            {
                // One payment that cannot be resolved must not stop the others, nor the host: log it and go on.
                logger.LogError(e, "Could not resolve pending payment {PaymentId}", paymentId);
            }
        }
        return resolved;
    }

    private async Task<bool> ResolveAsync(string paymentId, CancellationToken ct)
    {
        var history = await store.ReadStreamAsync(paymentId, ct: ct);
        if (history is not [{ Data: PaymentRequested requested } first, ..]) return false;
        var scope = new IdempotencyScope(requested.MerchantId, RequestPayment.Endpoint, first.Metadata.IdempotencyKey ?? "");
        // The owner may still be alive and talking to the gateway: only an expired lease is ours to take.
        if (!await idempotency.TryTakeOverAsync(scope, clock.Now(), ct) && await KeyExistsAsync(scope, ct)) return false;
        var metadata = first.Metadata with { CausationId = "sweep", Actor = "system:sweep" };
        await completion.ResumeAsync(paymentId, scope, metadata, ct);
        logger.LogInformation("Resolved pending payment {PaymentId}", paymentId);
        return true;
    }

    private async Task<List<string>> StalePendingAsync(CancellationToken ct)
    {
        await using var cmd = db.CreateCommand(
            "select id from payment_views where status = 'pending' and created_at < $1 order by created_at limit 100");
        cmd.Parameters.Add(new NpgsqlParameter { Value = (clock.Now() - options.Value.PendingAfter).UtcDateTime });
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        var ids = new List<string>();
        while (await reader.ReadAsync(ct)) ids.Add(reader.GetString(0));
        return ids;
    }

    private async Task<bool> KeyExistsAsync(IdempotencyScope scope, CancellationToken ct)
    {
        await using var cmd = db.CreateCommand("select 1 from idempotency_keys where merchant_id = $1 and endpoint = $2 and key = $3");
        cmd.Parameters.Add(new NpgsqlParameter { Value = scope.MerchantId });
        cmd.Parameters.Add(new NpgsqlParameter { Value = scope.Endpoint });
        cmd.Parameters.Add(new NpgsqlParameter { Value = scope.Key });
        return await cmd.ExecuteScalarAsync(ct) is not null;
    }
}
