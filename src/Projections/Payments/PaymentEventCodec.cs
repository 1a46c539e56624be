using System.Text.Json;
using System.Text.Json.Serialization;
using Ledger.Domain.Payments;
using Ledger.EventStore;
using static Ledger.Domain.Payments.PaymentEvent;

namespace Ledger.Projections.Payments;

/// <summary>
/// Payment events as the log stores them. Type names are part of the log's contract (docs/events.md):
/// never rename one; add a new event or an optional field instead.
/// </summary>
public sealed class PaymentEventCodec : IEventCodec<PaymentEvent>
{
    public const string Requested = "payment_requested";
    public const string Charged = "payment_charged";
    public const string Failed = "payment_failed";
    public const string Refunded = "payment_refunded";

    public static PaymentEventCodec Instance { get; } = new();

    public IReadOnlyList<(Type Type, string Name)> EventTypes { get; } =
        [(typeof(PaymentRequested), Requested), (typeof(PaymentCharged), Charged), (typeof(PaymentFailed), Failed), (typeof(PaymentRefunded), Refunded)];

    public System.Text.Json.Serialization.Metadata.IJsonTypeInfoResolver JsonResolver => EventJson.Default;

    public string TypeNameOf(PaymentEvent e) => e switch
    {
        PaymentRequested => Requested,
        PaymentCharged => Charged,
        PaymentFailed => Failed,
        PaymentRefunded => Refunded,
        _ => throw new ArgumentOutOfRangeException(nameof(e), e.GetType().Name, "Not a payment event."),
    };

    public DateTimeOffset OccurredAt(PaymentEvent e) => e.At;

    public string Serialize(PaymentEvent e) => e switch
    {
        PaymentRequested r => JsonSerializer.Serialize(r, EventJson.Default.PaymentRequested),
        PaymentCharged c => JsonSerializer.Serialize(c, EventJson.Default.PaymentCharged),
        PaymentFailed f => JsonSerializer.Serialize(f, EventJson.Default.PaymentFailed),
        PaymentRefunded r => JsonSerializer.Serialize(r, EventJson.Default.PaymentRefunded),
        _ => throw new ArgumentOutOfRangeException(nameof(e), e.GetType().Name, "Not a payment event."),
    };

    public PaymentEvent Deserialize(string typeName, string json) => typeName switch
    {
        Requested => JsonSerializer.Deserialize(json, EventJson.Default.PaymentRequested)!,
        Charged => JsonSerializer.Deserialize(json, EventJson.Default.PaymentCharged)!,
        Failed => JsonSerializer.Deserialize(json, EventJson.Default.PaymentFailed)!,
        Refunded => JsonSerializer.Deserialize(json, EventJson.Default.PaymentRefunded)!,
        _ => throw new InvalidOperationException($"Unknown payment event type '{typeName}'."),
    };
}

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase)]
[JsonSerializable(typeof(PaymentRequested))]
[JsonSerializable(typeof(PaymentCharged))]
[JsonSerializable(typeof(PaymentFailed))]
[JsonSerializable(typeof(PaymentRefunded))]
[JsonSerializable(typeof(Dictionary<string, string>))]
internal sealed partial class EventJson : JsonSerializerContext;
