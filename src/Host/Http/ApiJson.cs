using System.Text.Json.Serialization;
using Ledger.Host.Payments;
using Ledger.Host.Reporting;

namespace Ledger.Host.Http;

/// <summary>Every JSON shape of the API, source-generated: no reflection per request. Unknown request fields are refused.</summary>
[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase,
    UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
    NumberHandling = JsonNumberHandling.Strict)]
[JsonSerializable(typeof(ProblemBody))]
[JsonSerializable(typeof(PaymentResource))]
[JsonSerializable(typeof(CreatePaymentRequest))]
[JsonSerializable(typeof(string))]
[JsonSerializable(typeof(CreateRefundRequest))]
[JsonSerializable(typeof(RefundCreated))]
[JsonSerializable(typeof(PaymentList))]
[JsonSerializable(typeof(RefundList))]
[JsonSerializable(typeof(ReceiptResource))]
[JsonSerializable(typeof(MetricsReport))]
[JsonSerializable(typeof(BalanceReport))]
[JsonSerializable(typeof(Ledger.Host.Auditing.EventResource))]
[JsonSerializable(typeof(Ledger.Host.Auditing.StreamResource))]
[JsonSerializable(typeof(Ledger.Host.Auditing.EventPage))]
[JsonSerializable(typeof(Ledger.Host.Auditing.CheckpointResource))]
[JsonSerializable(typeof(Ledger.Host.Auditing.CheckpointPage))]
[JsonSerializable(typeof(Ledger.Host.Auditing.PublicKeyResource))]
[JsonSerializable(typeof(Ledger.Host.Auditing.PaymentProof))]
[JsonSerializable(typeof(Ledger.Host.Notifications.WebhookEventBody))]
[JsonSerializable(typeof(Ledger.Host.Webhooks.CreateWebhookEndpointRequest))]
[JsonSerializable(typeof(Ledger.Host.Webhooks.WebhookEndpointResource))]
[JsonSerializable(typeof(Ledger.Host.Webhooks.WebhookEndpointCreated))]
[JsonSerializable(typeof(Ledger.Host.Webhooks.WebhookEndpointList))]
[JsonSerializable(typeof(Ledger.Host.Webhooks.WebhookEndpointDeleted))]
[JsonSerializable(typeof(Ledger.Host.Webhooks.WebhookDeliveryResource))]
[JsonSerializable(typeof(Ledger.Host.Webhooks.WebhookDeliveryList))]
internal sealed partial class ApiJson : JsonSerializerContext;
