using Ledger.Host.Http;
using Npgsql;
using Wolverine.Http;

namespace Ledger.Host.Payments;

public sealed record ReceiptCard(string Brand, string Last4);
public sealed record ReceiptLine(string Kind, long Amount, DateTime At, string Reference);
public sealed record ReceiptResource(
    string ReceiptNumber, string MerchantId, string PaymentId, string OrderId, DateTime IssuedAt, ReceiptCard Card,
    string Currency, IReadOnlyList<ReceiptLine> Lines, long TotalCharged, long TotalRefunded, long Net);

/// <summary>GET /v1/payments/{id}/receipt: JSON, or a printable page for Accept: text/html. 404 unless it succeeded.</summary>
public static class GetReceipt
{
    public static void Configure(HttpChain chain) =>
        chain.Metadata.RequireAuthorization(Policies.Reader)
            .WithTags("Receipts").WithName("GetReceipt").WithSummary("The receipt of a succeeded payment (JSON, or HTML for Accept: text/html)")
            .WithDescription("One line per charge and refund. 404 for a payment that never succeeded.")
            .Produces<ReceiptResource>(StatusCodes.Status200OK, "application/json", "text/html").Problems(400, 404);

    [WolverineGet("/v1/payments/{id}/receipt")]
    public static async Task<IResult> Handle(string id, HttpContext http, ReadReplica reads, IConfiguration configuration)
    {
        return await reads.ReadAsync(http, async db =>
        {
            var receipt = await FindAsync(db, id, http.User.IsAuditor() ? null : http.User.MerchantId(), http.RequestAborted)
                ?? throw new ApiProblem(404, "payment_not_found", "Receipt not found.", "No succeeded payment with that id exists for this account.");
            var wantsHtml = http.Request.GetTypedHeaders().Accept
                .OrderByDescending(a => a.Quality ?? 1)
                .FirstOrDefault(a => a.MediaType == "text/html" || a.MediaType == "application/json")?.MediaType == "text/html";
            return wantsHtml
                ? Results.Text(await ReceiptPage.RenderAsync(db, receipt, ReceiptPage.DisplayName(configuration, receipt.MerchantId), http.RequestAborted),
                    "text/html; charset=utf-8")
                : Results.Text(System.Text.Json.JsonSerializer.Serialize(receipt, ApiJson.Default.ReceiptResource), "application/json");
        });
    }

    public static async Task<ReceiptResource?> FindAsync(NpgsqlDataSource db, string id, string? merchantId, CancellationToken ct)
    {
        await using var batch = db.CreateBatch();
        var header = new NpgsqlBatchCommand("""
            select receipt_number, merchant_id, order_id, issued_at, card_brand, card_last4, currency, total_charged, total_refunded
            from receipts where payment_id = $1 and issued_at is not null and ($2::text is null or merchant_id = $2)
            """);
        header.Parameters.Add(new NpgsqlParameter { Value = id });
        header.Parameters.Add(new NpgsqlParameter { Value = (object?)merchantId ?? DBNull.Value, NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Text });
        var lines = new NpgsqlBatchCommand("select kind, amount, at, reference from receipt_lines where payment_id = $1 order by line_no");
        lines.Parameters.Add(new NpgsqlParameter { Value = id });
        batch.BatchCommands.Add(header);
        batch.BatchCommands.Add(lines);
        await using var reader = await batch.ExecuteReaderAsync(ct);
        if (!await reader.ReadAsync(ct)) return null;
        var (number, merchant, orderId, issuedAt, brand, last4, currency, charged, refunded) = (reader.GetString(0), reader.GetString(1),
            reader.GetString(2), reader.GetDateTime(3), reader.GetString(4), reader.GetString(5), reader.GetString(6), reader.GetInt64(7), reader.GetInt64(8));
        await reader.NextResultAsync(ct);
        var items = new List<ReceiptLine>();
        while (await reader.ReadAsync(ct)) items.Add(new ReceiptLine(reader.GetString(0), reader.GetInt64(1), reader.GetDateTime(2), reader.GetString(3)));
        return new ReceiptResource(number, merchant, id, orderId, issuedAt, new ReceiptCard(brand, last4), currency, items, charged, refunded, charged - refunded);
    }
}
