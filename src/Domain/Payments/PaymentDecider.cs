using static Ledger.Domain.Payments.PaymentCommand;
using static Ledger.Domain.Payments.PaymentEvent;

namespace Ledger.Domain.Payments;

/// <summary>
/// Decides what happens to a payment. Pure: the same state and command always give the same answer.
/// Returns no events when the command is already satisfied, so a retry is always safe.
/// </summary>
public static class PaymentDecider
{
    public static PaymentEvent[] Decide(PaymentCommand command, Payment? state) => (state, command) switch
    {
        (null, RequestPayment c) =>
            [new PaymentRequested(c.PaymentId, c.MerchantId, c.OrderId, c.Amount, c.Currency, c.Card, c.Description, c.Metadata, c.Now)],
        (not null, RequestPayment) => [],

        (null, _) => throw new PaymentRejected(PaymentRejected.PaymentNotFound, "No such payment."),

        ({ Status: PaymentStatus.Pending }, RecordCharge c) =>
            [new PaymentCharged(state.Id, state.MerchantId, state.Amount, state.Currency, c.GatewayReference, c.ReceiptNumber, c.Now)],
        ({ Status: PaymentStatus.Pending }, RecordFailure c) =>
            [new PaymentFailed(state.Id, state.MerchantId, state.Amount, state.Currency, c.FailureCode, c.FailureMessage, c.Now)],
        ({ IsCharged: true }, RecordCharge) => [],
        ({ Status: PaymentStatus.Failed }, RecordFailure) => [],
        (_, RecordCharge or RecordFailure) => throw new PaymentRejected(
            PaymentRejected.OutcomeConflict, $"The payment is already {state.Status.Name()} and cannot take another outcome."),

        (_, RefundPayment c) when state.Refunds.Any(r => r.RefundId == c.RefundId) => [],
        ({ Status: PaymentStatus.Succeeded or PaymentStatus.PartiallyRefunded }, RefundPayment c)
            when (c.Amount ?? state.AmountRefundable) <= state.AmountRefundable =>
            [new PaymentRefunded(state.Id, state.MerchantId, c.RefundId, c.Amount ?? state.AmountRefundable, state.Currency, c.Reason, c.Metadata, c.Now)],
        ({ Status: PaymentStatus.Succeeded or PaymentStatus.PartiallyRefunded }, RefundPayment c) => throw new PaymentRejected(
            PaymentRejected.RefundExceedsRemaining,
            $"The refund of {c.Amount} exceeds the {state.AmountRefundable} that remains refundable."),
        (_, RefundPayment) => throw new PaymentRejected(
            PaymentRejected.PaymentNotRefundable, $"A payment that is {state.Status.Name()} cannot be refunded."),

        _ => throw new ArgumentOutOfRangeException(nameof(command), command, "Unknown command."),
    };
}
