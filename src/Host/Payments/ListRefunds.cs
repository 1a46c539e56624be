using Ledger.Host.Http;
using Npgsql;
using Wolverine.Http;

namespace Ledger.Host.Payments;

public sealed record RefundList(IReadOnlyList<RefundResource> Data);

/// <summary>GET /v1/payments/{id}/refunds: oldest first, from refund_views.</summary>
public static class ListRefunds
{
    public static void Configure(HttpChain chain) =>
        chain.Metadata.RequireAuthorization(Policies.Reader)
            .WithTags("Refunds").WithName("ListRefunds").WithSummary("A payment's refunds, oldest first")
            .WithDescription("From the read model.")
            .Produces<RefundList>().Problems(400, 404);

    [WolverineGet("/v1/payments/{id}/refunds")]
    public static async Task<IResult> Handle(string id, HttpContext http, ReadReplica reads)
    {
        return await reads.ReadAsync(http, async db =>
        {
            var refunds = await ReadAsync(db, id, http.User.IsAuditor() ? null : http.User.MerchantId(), http.RequestAborted);
            return Results.Text(System.Text.Json.JsonSerializer.Serialize(refunds, ApiJson.Default.RefundList), "application/json");
        });
    }

    /// <summary>The payment's refunds, oldest first, if <paramref name="merchantId"/> (null: anyone's) may see it; else not found.</summary>
    public static async Task<RefundList> ReadAsync(NpgsqlDataSource db, string id, string? merchantId, CancellationToken ct)
    {
        var payment = await GetPayment.FindAsync(db, id, merchantId, ct) ?? throw ApiProblem.PaymentNotFound();
        await using var cmd = db.CreateCommand(
            "select id, amount, reason, created_at from refund_views where payment_id = $1 order by version");
        cmd.Parameters.Add(new NpgsqlParameter { Value = id });
        var refunds = new List<RefundResource>();
        await using (var reader = await cmd.ExecuteReaderAsync(ct))
            while (await reader.ReadAsync(ct))
                refunds.Add(new RefundResource(reader.GetString(0), id, reader.GetInt64(1), reader.GetString(2), reader.GetDateTime(3), payment.ReceiptNumber));
        return new RefundList(refunds);
    }
}
