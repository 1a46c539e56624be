namespace Ledger.Domain.Payments;

/// <summary>What the gateway let us keep of a card: never the number, never the cvc.</summary>
public sealed record CardSnapshot(string Brand, string Last4, int ExpMonth, int ExpYear, string Fingerprint);

/// <summary>
/// The facts of a payment's life. A closed set: nothing outside this type can derive from it.
/// Events are never updated; a new need gets a new event or a new optional field.
/// </summary>
public abstract record PaymentEvent
{
    private PaymentEvent() { }

    public abstract string PaymentId { get; init; }
    public abstract DateTimeOffset At { get; init; }

    public sealed record PaymentRequested(
        string PaymentId,
        string MerchantId,
        string OrderId,
        long Amount,
        string Currency,
        CardSnapshot Card,
        string? Description,
        IReadOnlyDictionary<string, string> Metadata,
        DateTimeOffset At) : PaymentEvent;

    /// <summary>The money moved. Carries what the books need, so each projection is fed by this one event.</summary>
    public sealed record PaymentCharged(
        string PaymentId,
        string MerchantId,
        long Amount,
        string Currency,
        string GatewayReference,
        string ReceiptNumber,
        DateTimeOffset At) : PaymentEvent;

    public sealed record PaymentFailed(
        string PaymentId,
        string MerchantId,
        long Amount,
        string Currency,
        string FailureCode,
        string FailureMessage,
        DateTimeOffset At) : PaymentEvent;

    public sealed record PaymentRefunded(
        string PaymentId,
        string MerchantId,
        string RefundId,
        long Amount,
        string Currency,
        string Reason,
        IReadOnlyDictionary<string, string> Metadata,
        DateTimeOffset At) : PaymentEvent;
}
