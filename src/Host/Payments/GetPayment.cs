using Ledger.Host.Http;
using Npgsql;
using Wolverine.Http;

namespace Ledger.Host.Payments;

/// <summary>GET /v1/payments/{id}: from the read model. Another merchant's payment is a 404, not a 403.</summary>
public static class GetPayment
{
    public static void Configure(HttpChain chain) =>
        chain.Metadata.RequireAuthorization(Policies.Reader)
            .WithTags("Payments").WithName("GetPayment").WithSummary("A payment, from the read model")
            .WithDescription("Another merchant's payment is a 404: existence is not leaked.")
            .Produces<PaymentResource>().Problems(400, 404);

    [WolverineGet("/v1/payments/{id}")]
    public static async Task<IResult> Handle(string id, HttpContext http, ReadReplica reads)
    {
        return await reads.ReadAsync(http, async db =>
        {
            var payment = await FindAsync(db, id, http.User.IsAuditor() ? null : http.User.MerchantId(), http.RequestAborted)
                ?? throw ApiProblem.PaymentNotFound();
            return Results.Text(payment.ToJson(), "application/json");
        });
    }

    /// <summary>The payment, if it exists and <paramref name="merchantId"/> (null: anyone's) may see it.</summary>
    public static async Task<PaymentResource?> FindAsync(NpgsqlDataSource db, string id, string? merchantId, CancellationToken ct)
    {
        await using var cmd = db.CreateCommand($"""
            select {PaymentResource.ViewColumns} from payment_views
            where id = $1 and ($2::text is null or merchant_id = $2)
            """);
        cmd.Parameters.Add(new NpgsqlParameter { Value = id });
        cmd.Parameters.Add(new NpgsqlParameter { Value = (object?)merchantId ?? DBNull.Value, NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Text });
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        return await reader.ReadAsync(ct) ? PaymentResource.FromRow(reader) : null;
    }
}
