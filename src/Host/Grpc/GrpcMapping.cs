using System.Text.Json.Nodes;
using Google.Protobuf.WellKnownTypes;
using Ledger.Grpc.V1;
using Ledger.Host.Payments;

namespace Ledger.Host.Grpc;

/// <summary>The HTTP API's resources as ledger.v1 messages, and gRPC requests as the JSON bodies the HTTP API reads.</summary>
public static class GrpcMapping
{
    /// <summary>
    /// The JSON body an HTTP client would send with the same fields: only what is set (an HTTP client leaves out what it
    /// does not send), in the API's names. Its canonical form is what the idempotency fingerprint covers, so the same
    /// request over either transport is the same request.
    /// </summary>
    public static byte[] JsonOf(Payments.CreatePaymentRequest r)
    {
        var json = new JsonObject();
        if (r.Amount is { } amount) json["amount"] = amount;
        if (r.Currency is { } currency) json["currency"] = currency;
        if (r.OrderId is { } orderId) json["orderId"] = orderId;
        if (r.Description is { } description) json["description"] = description;
        if (r.Metadata is { } metadata) json["metadata"] = Object(metadata);
        if (r.Card is { } card)
        {
            var c = new JsonObject();
            if (card.Number is { } number) c["number"] = number;
            if (card.ExpMonth is { } month) c["expMonth"] = month;
            if (card.ExpYear is { } year) c["expYear"] = year;
            if (card.Cvc is { } cvc) c["cvc"] = cvc;
            json["card"] = c;
        }
        return System.Text.Encoding.UTF8.GetBytes(json.ToJsonString());
    }

    public static byte[] JsonOf(CreateRefundRequest r)
    {
        var json = new JsonObject();
        if (r.Amount is { } amount) json["amount"] = amount;
        if (r.Reason is { } reason) json["reason"] = reason;
        if (r.Metadata is { } metadata) json["metadata"] = Object(metadata);
        return System.Text.Encoding.UTF8.GetBytes(json.ToJsonString());
    }

    private static JsonObject Object(Dictionary<string, string> map)
    {
        var o = new JsonObject();
        foreach (var (k, v) in map) o[k] = v;
        return o;
    }

    public static Payment ToPayment(PaymentResource p)
    {
        var payment = new Payment
        {
            Id = p.Id, MerchantId = p.MerchantId, OrderId = p.OrderId, Amount = p.Amount, Currency = p.Currency, Status = Status(p.Status),
            AmountRefunded = p.AmountRefunded, AmountRefundable = p.AmountRefundable, FailureCode = p.FailureCode ?? "",
            FailureMessage = p.FailureMessage ?? "",
            Card = new CardDetails { Brand = p.Card.Brand, Last4 = p.Card.Last4, ExpMonth = p.Card.ExpMonth, ExpYear = p.Card.ExpYear, Fingerprint = p.Card.Fingerprint },
            Description = p.Description ?? "", ReceiptNumber = p.ReceiptNumber ?? "",
            CreatedAt = Time(p.CreatedAt), UpdatedAt = Time(p.UpdatedAt), Version = p.Version,
        };
        foreach (var (k, v) in p.Metadata) payment.Metadata[k] = v;
        return payment;
    }

    public static Refund ToRefund(RefundResource r) => new()
    {
        Id = r.Id, PaymentId = r.PaymentId, Amount = r.Amount, Reason = Reason(r.Reason), CreatedAt = Time(r.CreatedAt), ReceiptNumber = r.ReceiptNumber ?? "",
    };

    public static Receipt ToReceipt(ReceiptResource r)
    {
        var receipt = new Receipt
        {
            ReceiptNumber = r.ReceiptNumber, MerchantId = r.MerchantId, PaymentId = r.PaymentId, OrderId = r.OrderId, IssuedAt = Time(r.IssuedAt),
            Card = new Ledger.Grpc.V1.ReceiptCard { Brand = r.Card.Brand, Last4 = r.Card.Last4 }, Currency = r.Currency,
            TotalCharged = r.TotalCharged, TotalRefunded = r.TotalRefunded, Net = r.Net,
        };
        receipt.Lines.AddRange(r.Lines.Select(l => new Ledger.Grpc.V1.ReceiptLine { Kind = l.Kind, Amount = l.Amount, At = Time(l.At), Reference = l.Reference }));
        return receipt;
    }

    private static Timestamp Time(DateTime t) => Timestamp.FromDateTime(DateTime.SpecifyKind(t, DateTimeKind.Utc));

    private static PaymentStatus Status(string status) => status switch
    {
        "pending" => PaymentStatus.Pending,
        "succeeded" => PaymentStatus.Succeeded,
        "failed" => PaymentStatus.Failed,
        "partially_refunded" => PaymentStatus.PartiallyRefunded,
        "refunded" => PaymentStatus.Refunded,
        _ => PaymentStatus.Unspecified,
    };

    /// <summary>The listing's status filter as the read model names it; null for any.</summary>
    public static string? StatusName(PaymentStatus status) => status switch
    {
        PaymentStatus.Pending => "pending",
        PaymentStatus.Succeeded => "succeeded",
        PaymentStatus.Failed => "failed",
        PaymentStatus.PartiallyRefunded => "partially_refunded",
        PaymentStatus.Refunded => "refunded",
        _ => null,
    };

    private static RefundReason Reason(string? reason) => reason switch
    {
        "duplicate" => RefundReason.Duplicate,
        "fraudulent" => RefundReason.Fraudulent,
        "requested_by_customer" => RefundReason.RequestedByCustomer,
        _ => RefundReason.Unspecified,
    };

    /// <summary>A refund's reason as the API names it; null when unspecified (the API's default applies).</summary>
    public static string? ReasonName(RefundReason reason) => reason switch
    {
        RefundReason.Duplicate => "duplicate",
        RefundReason.Fraudulent => "fraudulent",
        RefundReason.RequestedByCustomer => "requested_by_customer",
        _ => null,
    };
}
