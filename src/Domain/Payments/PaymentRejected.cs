namespace Ledger.Domain.Payments;

/// <summary>The one way the decider says no. <see cref="Code"/> is stable: clients switch on it.</summary>
public sealed class PaymentRejected(string code, string message) : Exception(message)
{
    public string Code { get; } = code;

    public const string PaymentNotFound = "payment_not_found";
    public const string PaymentNotRefundable = "payment_not_refundable";
    public const string RefundExceedsRemaining = "refund_exceeds_remaining";
    public const string OutcomeConflict = "outcome_conflict";
}
