using Ledger.Domain.Money;
using Ledger.Host.Http;
using Microsoft.OpenApi;
using Npgsql;

namespace Ledger.Host.Payments;

public sealed record PaymentList(IReadOnlyList<PaymentResource> Data, bool HasMore);

/// <summary>
/// GET /v1/payments: newest first, filtered, keyset-paged by <c>startingAfter</c> (a payment id). Served by
/// the (merchant_id, created_at desc, id desc) index, or (created_at desc, id desc) for the auditor.
/// </summary>
public static class ListPayments
{
    private static readonly string[] Statuses = ["pending", "succeeded", "failed", "partially_refunded", "refunded"];

    public static void MapListPayments(this IEndpointRouteBuilder app) =>
        app.MapGet("/v1/payments", Handle).RequireAuthorization(Policies.Reader)
            .WithTags("Payments").WithName("ListPayments").WithSummary("Payments, newest first, keyset-paged")
            .WithDescription("A merchant sees its own payments, the auditor everyone's. Pass the last id as startingAfter for the next page.")
            .Produces<PaymentList>().Problems(400)
            .WithMetadata(
                new QueryParameter("status", "pending | succeeded | failed | partially_refunded | refunded"),
                new QueryParameter("orderId", "The merchant's order id."),
                new QueryParameter("currency", "ISO 4217 code, upper case."),
                new QueryParameter("createdFrom", "RFC 3339 time, inclusive.", Format: "date-time"),
                new QueryParameter("createdTo", "RFC 3339 time, inclusive.", Format: "date-time"),
                new QueryParameter("limit", "1-100, default 10.", JsonSchemaType.Integer),
                new QueryParameter("startingAfter", "The id of the last payment of the previous page."));

    private static async Task<IResult> Handle(HttpContext http, NpgsqlDataSource db)
    {
        var query = new Query(http.Request);
        var status = query.OneOf("status", Statuses);
        var orderId = query.Text("orderId", 64);
        var currency = query.Text("currency", 3);
        if (currency is not null && !Currency.TryFind(currency, out _)) query.Fail("currency", "Unsupported currency.");
        var from = query.Time("createdFrom");
        var to = query.Time("createdTo");
        var limit = query.Int("limit", 10, 1, 100);
        var startingAfter = query.Text("startingAfter", 64);
        query.ThrowIfInvalid();

        var merchant = http.User.IsAuditor() ? null : http.User.MerchantId();
        var ct = http.RequestAborted;
        var filters = new List<string>();
        await using var cmd = db.CreateCommand();
        void Filter(string sql, object value)
        {
            cmd.Parameters.Add(new NpgsqlParameter { Value = value });
            filters.Add(sql.Replace("@", $"${cmd.Parameters.Count}", StringComparison.Ordinal));
        }

        if (merchant is not null) Filter("merchant_id = @", merchant);
        if (status is not null) Filter("status = @", status);
        if (orderId is not null) Filter("order_id = @", orderId);
        if (currency is not null) Filter("currency = @", currency);
        if (from is not null) Filter("created_at >= @", from.Value.UtcDateTime);
        if (to is not null) Filter("created_at <= @", to.Value.UtcDateTime);
        if (startingAfter is not null)
        {
            var cursor = await GetPayment.FindAsync(db, startingAfter, merchant, ct)
                ?? throw ApiProblem.Validation("startingAfter", "Not a payment id from a previous page.");
            cmd.Parameters.Add(new NpgsqlParameter { Value = cursor.CreatedAt });
            cmd.Parameters.Add(new NpgsqlParameter { Value = cursor.Id });
            filters.Add($"(created_at, id) < (${cmd.Parameters.Count - 1}, ${cmd.Parameters.Count})");
        }
        cmd.Parameters.Add(new NpgsqlParameter { Value = limit + 1 });
        cmd.CommandText = $"""
            select {PaymentResource.ViewColumns} from payment_views
            {(filters.Count > 0 ? "where " + string.Join(" and ", filters) : "")}
            order by created_at desc, id desc
            limit ${cmd.Parameters.Count}
            """;

        var page = new List<PaymentResource>(limit + 1);
        await using (var reader = await cmd.ExecuteReaderAsync(ct))
            while (await reader.ReadAsync(ct)) page.Add(PaymentResource.FromRow(reader));
        var hasMore = page.Count > limit;
        var body = new PaymentList(hasMore ? page[..limit] : page, hasMore);
        return Results.Text(System.Text.Json.JsonSerializer.Serialize(body, ApiJson.Default.PaymentList), "application/json");
    }
}
