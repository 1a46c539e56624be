using System.Text.Json.Nodes;
using Ledger.Domain.Money;
using Ledger.Host.Payments;
using Microsoft.AspNetCore.OpenApi;
using Microsoft.OpenApi;

namespace Ledger.Host.Http;

/// <summary>
/// What the handlers enforce, said in the document so a generated client knows it: which request fields are
/// required (and so never null), their ranges, lengths and patterns, the enums, and that unknown fields are refused.
/// The C# request types are nullable only so a handler can tell "absent" from "wrong"; the wire contract is here.
/// </summary>
public static class OpenApiSchemas
{
    private const long MaxAmount = 1_000_000_000_000;
    public static readonly string[] PaymentStatuses = ["pending", "succeeded", "failed", "partially_refunded", "refunded"];

    public static Task Describe(OpenApiSchema schema, OpenApiSchemaTransformerContext context, CancellationToken _)
    {
        var type = context.JsonTypeInfo.Type;
        if (type == typeof(CreatePaymentRequest))
        {
            Required(schema, "amount", "currency", "orderId", "card");
            Amount(schema, "amount");
            Currencies(Property(schema, "currency"));
            Text(schema, "orderId", 1, 64);
            Text(schema, "description", 0, 1000);
            MetadataShape(schema);
            schema.AdditionalPropertiesAllowed = false;
        }
        else if (type == typeof(CardInput))
        {
            Required(schema, "number", "expMonth", "expYear", "cvc");
            Text(schema, "number", 12, 19).Pattern = "^[0-9]{12,19}$";
            Integer(schema, "expMonth", 1, 12);
            Integer(schema, "expYear", 2000, 2100);
            Text(schema, "cvc", 3, 4).Pattern = "^[0-9]{3,4}$";
            schema.AdditionalPropertiesAllowed = false;
        }
        else if (type == typeof(CreateRefundRequest))
        {
            Amount(schema, "amount").Description = "Minor units; absent (or null) refunds everything that remains.";
            Enum(Property(schema, "reason"), RefundPayment.Reasons).Description = "Absent (or null): requested_by_customer.";
            MetadataShape(schema);
            schema.AdditionalPropertiesAllowed = false;
        }
        else if (type == typeof(PaymentResource))
        {
            Enum(Property(schema, "status"), PaymentStatuses);
            Currencies(Property(schema, "currency"));
        }
        else if (type == typeof(RefundResource)) Enum(Property(schema, "reason"), RefundPayment.Reasons);
        else if (type == typeof(ReceiptResource)) Currencies(Property(schema, "currency"));
        else if (type == typeof(ReceiptLine)) Enum(Property(schema, "kind"), ["charge", "refund"]);
        return Task.CompletedTask;
    }

    private static OpenApiSchema Property(OpenApiSchema schema, string name) =>
        (schema.Properties is { } ps && ps.TryGetValue(name, out var found) ? found : null) as OpenApiSchema ?? throw new InvalidOperationException($"No property {name} to describe.");

    /// <summary>Required fields are refused when null, so null is not in their type.</summary>
    private static void Required(OpenApiSchema schema, params string[] names)
    {
        schema.Required = new HashSet<string>(names);
        foreach (var name in names)
            if (schema.Properties is { } ps && ps.TryGetValue(name, out var found) && found is OpenApiSchema p && p.Type is { } t) p.Type = t & ~JsonSchemaType.Null;
    }

    private static OpenApiSchema Amount(OpenApiSchema schema, string name) => Integer(schema, name, 1, MaxAmount);

    private static OpenApiSchema Integer(OpenApiSchema schema, string name, long min, long max)
    {
        var p = Property(schema, name);
        (p.Minimum, p.Maximum) = (min.ToString(System.Globalization.CultureInfo.InvariantCulture), max.ToString(System.Globalization.CultureInfo.InvariantCulture));
        return p;
    }

    private static OpenApiSchema Text(OpenApiSchema schema, string name, int min, int max)
    {
        var p = Property(schema, name);
        (p.MinLength, p.MaxLength) = (min > 0 ? min : null, max);
        return p;
    }

    private static void MetadataShape(OpenApiSchema schema)
    {
        var metadata = Property(schema, "metadata");
        metadata.MaxProperties = 50;
        metadata.PropertyNames = new OpenApiSchema { Type = JsonSchemaType.String, MinLength = 1, MaxLength = 40 };
        metadata.AdditionalProperties = new OpenApiSchema { Type = JsonSchemaType.String, MaxLength = 500 };
        metadata.Description = "Up to 50 string values (keys 1-40 characters, values up to 500), kept with the payment.";
    }

    private static OpenApiSchema Currencies(OpenApiSchema p) =>
        Enum(p, [.. Currency.All.Select(c => c.Code).Order(StringComparer.Ordinal)]);

    private static OpenApiSchema Enum(OpenApiSchema p, IEnumerable<string> values)
    {
        p.Enum = [.. values.Select(v => (JsonNode)JsonValue.Create(v)!)];
        if ((p.Type & JsonSchemaType.Null) != 0) p.Enum.Add(null!); // an optional field may still be sent as null
        return p;
    }
}
