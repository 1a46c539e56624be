using System.Text.Json;
using Ledger.Domain.Payments;
using Ledger.Host.Http;
using Ledger.Host.Payments;
using static Ledger.Domain.Payments.PaymentEvent;

namespace Ledger.Host.Notifications;

/// <summary>What a payment event tells a merchant's systems: the payment as it is after the event, and the refund it made.</summary>
public sealed record NotificationData(PaymentResource Payment, RefundResource? Refund);

/// <summary>The JSON a webhook delivery posts (and signs): <c>{id, type, createdAt, data}</c>.</summary>
public sealed record WebhookEventBody(string Id, string Type, DateTime CreatedAt, NotificationData Data);

/// <summary>
/// One event a merchant can see, as the outbox carries it out of the append's transaction: to the webhook fan-out and,
/// when configured, to the RabbitMQ exchange <c>ledger.events</c>. Its <see cref="Id"/> is the event's own (payment and
/// version), the same in every delivery and retry, so receivers de-duplicate by it. PaymentRequested makes none: a
/// pending payment is not news to anyone but its caller, who has the answer already.
/// </summary>
/// <see cref="CorrelationId"/> is the event's (the trace id of the request that wrote it, unless its caller named one);
/// <see cref="TraceParent"/> the W3C id of the span that appended it, which webhook deliveries continue.
[Wolverine.Attributes.MessageIdentity("ledger.payment-event")]
public sealed record PaymentNotification(
    string Id, string Type, DateTime CreatedAt, string MerchantId, string PaymentId, long Version, NotificationData Data,
    string? CorrelationId = null, string? TraceParent = null)
{
    public const string Succeeded = "payment.succeeded";
    public const string Failed = "payment.failed";
    public const string Refunded = "payment.refunded";
    public static readonly IReadOnlyList<string> Types = [Succeeded, Failed, Refunded];

    /// <summary>The notification <paramref name="e"/> makes, given the payment <paramref name="after"/> it; null if it makes none.</summary>
    public static PaymentNotification? Of(string paymentId, long version, PaymentEvent e, Payment after)
    {
        var (type, refund) = e switch
        {
            PaymentCharged => (Succeeded, null),
            PaymentFailed => (Failed, null),
            PaymentRefunded r => (Refunded, RefundPayment.Resource(after.Refunds.Single(x => x.RefundId == r.RefundId), after)),
            _ => ((string?)null, (RefundResource?)null),
        };
        return type is null ? null
            : new PaymentNotification(EventId(paymentId, version), type, e.At.UtcDateTime, after.MerchantId, paymentId, version,
                new NotificationData(PaymentResource.From(after), refund));
    }

    /// <summary>evt_ + the payment's id without its prefix + _ + the event's version: stable, and tells the event apart.</summary>
    public static string EventId(string paymentId, long version) =>
        $"evt_{(paymentId.StartsWith("pay_", StringComparison.Ordinal) ? paymentId[4..] : paymentId)}_{version}";

    /// <summary>The body of a webhook delivery, as the API writes JSON.</summary>
    public string WebhookBody() => JsonSerializer.Serialize(new WebhookEventBody(Id, Type, CreatedAt, Data), ApiJson.Default.WebhookEventBody);
}
