using System.Text.Json;
using Ledger.Domain.Payments;
using Ledger.Host.Http;
using Npgsql;

namespace Ledger.Host.Payments;

/// <summary>A payment as the API shows it (docs/api.md, "Payments").</summary>
public sealed record PaymentResource(
    string Id,
    string MerchantId,
    string OrderId,
    long Amount,
    string Currency,
    string Status,
    long AmountRefunded,
    long AmountRefundable,
    string? FailureCode,
    string? FailureMessage,
    CardResource Card,
    string? Description,
    IReadOnlyDictionary<string, string> Metadata,
    string? ReceiptNumber,
    DateTime CreatedAt,
    DateTime UpdatedAt,
    long Version)
{
    public static PaymentResource From(Payment p) => new(
        p.Id, p.MerchantId, p.OrderId, p.Amount, p.Currency, p.Status.Name(), p.AmountRefunded, p.AmountRefundable,
        p.FailureCode, p.FailureMessage, new CardResource(p.Card.Brand, p.Card.Last4, p.Card.ExpMonth, p.Card.ExpYear, p.Card.Fingerprint),
        p.Description, p.Metadata, p.ReceiptNumber, p.CreatedAt.UtcDateTime, p.UpdatedAt.UtcDateTime, p.Version);

    public string ToJson() => JsonSerializer.Serialize(this, ApiJson.Default.PaymentResource);

    /// <summary>The payment_views columns <see cref="FromRow"/> reads, in order.</summary>
    public const string ViewColumns = """
        id, merchant_id, order_id, amount, currency, status, amount_refunded, failure_code, failure_message,
        card_brand, card_last4, card_exp_month, card_exp_year, card_fingerprint, description, metadata::text,
        receipt_number, created_at, updated_at, version
        """;

    public static PaymentResource FromRow(NpgsqlDataReader r)
    {
        var status = r.GetString(5);
        var amount = r.GetInt64(3);
        var refunded = r.GetInt64(6);
        return new PaymentResource(
            r.GetString(0), r.GetString(1), r.GetString(2), amount, r.GetString(4), status, refunded,
            AmountRefundable: status is "succeeded" or "partially_refunded" ? amount - refunded : 0,
            r.IsDBNull(7) ? null : r.GetString(7), r.IsDBNull(8) ? null : r.GetString(8),
            new CardResource(r.GetString(9), r.GetString(10), r.GetInt32(11), r.GetInt32(12), r.GetString(13)),
            r.IsDBNull(14) ? null : r.GetString(14),
            JsonSerializer.Deserialize(r.GetString(15), ApiJson.Default.IReadOnlyDictionaryStringString)!,
            r.IsDBNull(16) ? null : r.GetString(16),
            r.GetDateTime(17), r.GetDateTime(18), r.GetInt64(19));
    }
}

public sealed record CardResource(string Brand, string Last4, int ExpMonth, int ExpYear, string Fingerprint);
