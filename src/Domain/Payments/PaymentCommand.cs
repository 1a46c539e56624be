namespace Ledger.Domain.Payments;

/// <summary>What someone asks of a payment. Time, ids and gateway outcomes come in on the command.</summary>
public abstract record PaymentCommand
{
    private PaymentCommand() { }

    public sealed record RequestPayment(
        string PaymentId,
        string MerchantId,
        string OrderId,
        long Amount,
        string Currency,
        CardSnapshot Card,
        string? Description,
        IReadOnlyDictionary<string, string> Metadata,
        DateTimeOffset Now) : PaymentCommand;

    /// <summary>The gateway took the money. The receipt number is issued by the caller (a database sequence).</summary>
    public sealed record RecordCharge(string GatewayReference, string ReceiptNumber, DateTimeOffset Now) : PaymentCommand;

    /// <summary>The gateway said no, or never answered after its retries.</summary>
    public sealed record RecordFailure(string FailureCode, string FailureMessage, DateTimeOffset Now) : PaymentCommand;

    /// <summary>Refund <paramref name="Amount"/> minor units, or all that remains when it is null.</summary>
    public sealed record RefundPayment(
        string RefundId,
        long? Amount,
        string Reason,
        IReadOnlyDictionary<string, string> Metadata,
        DateTimeOffset Now) : PaymentCommand;
}
