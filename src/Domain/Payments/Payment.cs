using System.Collections.Immutable;
using static Ledger.Domain.Payments.PaymentEvent;

namespace Ledger.Domain.Payments;

public enum PaymentStatus { Pending, Succeeded, Failed, PartiallyRefunded, Refunded }

public static class PaymentStatusNames
{
    /// <summary>The status as the API, the read model and people say it: succeeded, partially_refunded...</summary>
    public static string Name(this PaymentStatus status) => status switch
    {
        PaymentStatus.Pending => "pending",
        PaymentStatus.Succeeded => "succeeded",
        PaymentStatus.Failed => "failed",
        PaymentStatus.PartiallyRefunded => "partially_refunded",
        PaymentStatus.Refunded => "refunded",
        _ => throw new ArgumentOutOfRangeException(nameof(status), status, null),
    };
}

public sealed record Refund(
    string RefundId,
    long Amount,
    string Reason,
    IReadOnlyDictionary<string, string> Metadata,
    DateTimeOffset At);

/// <summary>A payment as its events say it is. Folded, never stored as such.</summary>
public sealed record Payment(
    string Id,
    string MerchantId,
    string OrderId,
    long Amount,
    string Currency,
    PaymentStatus Status,
    long AmountRefunded,
    string? FailureCode,
    string? FailureMessage,
    CardSnapshot Card,
    string? Description,
    IReadOnlyDictionary<string, string> Metadata,
    string? GatewayReference,
    string? ReceiptNumber,
    DateTimeOffset CreatedAt,
    DateTimeOffset UpdatedAt,
    long Version,
    ImmutableList<Refund> Refunds,
    DateTimeOffset? ChargedAt = null)
{
    public bool IsCharged => Status is PaymentStatus.Succeeded or PaymentStatus.PartiallyRefunded or PaymentStatus.Refunded;

    public long AmountRefundable => Status is PaymentStatus.Succeeded or PaymentStatus.PartiallyRefunded
        ? Amount - AmountRefunded
        : 0;

    /// <summary>Applies one event. Never throws: events are facts, already accepted.</summary>
    public static Payment? Evolve(Payment? state, PaymentEvent @event) => (state, @event) switch
    {
        (null, PaymentRequested e) => new Payment(
            e.PaymentId, e.MerchantId, e.OrderId, e.Amount, e.Currency, PaymentStatus.Pending,
            AmountRefunded: 0, FailureCode: null, FailureMessage: null, e.Card, e.Description, e.Metadata,
            GatewayReference: null, ReceiptNumber: null, CreatedAt: e.At, UpdatedAt: e.At, Version: 1, Refunds: []),
        (null, _) => null,
        (_, PaymentCharged e) => state with
        {
            Status = PaymentStatus.Succeeded, GatewayReference = e.GatewayReference, ReceiptNumber = e.ReceiptNumber,
            ChargedAt = e.At, UpdatedAt = e.At, Version = state.Version + 1,
        },
        (_, PaymentFailed e) => state with
        {
            Status = PaymentStatus.Failed, FailureCode = e.FailureCode, FailureMessage = e.FailureMessage,
            UpdatedAt = e.At, Version = state.Version + 1,
        },
        (_, PaymentRefunded e) => state with
        {
            AmountRefunded = state.AmountRefunded + e.Amount,
            Status = state.AmountRefunded + e.Amount >= state.Amount ? PaymentStatus.Refunded : PaymentStatus.PartiallyRefunded,
            Refunds = state.Refunds.Add(new Refund(e.RefundId, e.Amount, e.Reason, e.Metadata, e.At)),
            UpdatedAt = e.At, Version = state.Version + 1,
        },
        _ => state with { Version = state.Version + 1 },
    };

    public static Payment? Fold(IEnumerable<PaymentEvent> events) => events.Aggregate((Payment?)null, Evolve);
}
