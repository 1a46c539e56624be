using System.Text.Json.Serialization;
using Ledger.Host.Payments;

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
internal sealed partial class ApiJson : JsonSerializerContext;
