using Ledger.Domain.Payments;
using Ledger.EventStore;
using Ledger.Host.Gateway;
using Ledger.Host.Http;
using Npgsql;
using static Ledger.Domain.Payments.PaymentCommand;

namespace Ledger.Host.Payments;

/// <summary>
/// The second step of a charge: the gateway's outcome and the key's final answer, in one transaction.
/// Shared by the request itself, by a retry that takes over a dead owner's key, and by the sweep.
/// </summary>
public sealed class ChargeCompletion(
    EventLog<PaymentEvent> store, IPaymentGateway gateway, NpgsqlDataSource db, Observability.LedgerMeter meter, TimeProvider clock)
{
    /// <param name="known">The payment as the caller just wrote it, to save reading it back; null to read it.</param>
    public async Task<StoredResponse> RecordOutcomeAsync(
        string paymentId, IdempotencyScope scope, GatewayOutcome outcome, EventMetadata metadata, CancellationToken ct, Payment? known = null)
    {
        PaymentCommand command = outcome switch
        {
            GatewayOutcome.Approved a => new RecordCharge(a.Reference, await NextReceiptNumberAsync(scope.MerchantId, ct), clock.Now()),
            GatewayOutcome.Declined d => new RecordFailure(d.Code, d.Message, clock.Now()),
            _ => throw new ArgumentOutOfRangeException(nameof(outcome), outcome, null),
        };
        while (true)
        {
            var state = known ?? Payment.Fold((await store.ReadStreamAsync(paymentId, ct: ct)).Select(e => e.Data))
                ?? throw new PaymentRejected(PaymentRejected.PaymentNotFound, $"Payment {paymentId} has no events.");
            known = null; // after a conflict, read what the other writer left
            var events = PaymentDecider.Decide(command, state);
            var final = events.Aggregate((Payment?)state, Payment.Evolve)!;
            var response = new StoredResponse(201, PaymentResource.From(final).ToJson(), $"/v1/payments/{paymentId}");
            try
            {
                await store.AppendAsync(paymentId, state.Version, events, metadata,
                    commands => commands.Add(Idempotency.Complete(scope, response)), ct, streamState: state);
                foreach (var e in events)
                    if (e is PaymentEvent.PaymentCharged) meter.PaymentSucceeded();
                    else if (e is PaymentEvent.PaymentFailed f) meter.PaymentFailed(f.FailureCode);
                return response;
            }
            catch (ConcurrencyException)
            {
                // Someone else (the sweep, a retry) recorded an outcome first: fold again; Decide says what is left.
            }
        }
    }

    private async Task<string> NextReceiptNumberAsync(string merchantId, CancellationToken ct)
    {
        await using var cmd = db.CreateCommand("select nextval('receipt_numbers')");
        var number = (long)(await cmd.ExecuteScalarAsync(ct))!;
        return $"{merchantId.ToUpperInvariant()}-{number:D8}";
    }

    /// <summary>Finishes a charge whose first owner died: asks the gateway what became of it, by the same key.</summary>
    public async Task<StoredResponse> ResumeAsync(string paymentId, IdempotencyScope scope, EventMetadata metadata, CancellationToken ct)
    {
        var outcome = await gateway.LookupAsync(paymentId, ct);
        return await RecordOutcomeAsync(paymentId, scope, outcome, metadata, ct);
    }
}
