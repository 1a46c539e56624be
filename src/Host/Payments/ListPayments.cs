using Ledger.Domain.Money;
using Ledger.Host.Http;
using Microsoft.OpenApi;
using Npgsql;
using Wolverine.Http;

namespace Ledger.Host.Payments;

public sealed record PaymentList(IReadOnlyList<PaymentResource> Data, bool HasMore);

/// <summary>Where a page starts: after this payment, in (created_at desc, id desc) order.</summary>
public sealed record PaymentCursor(DateTime CreatedAt, string Id);

/// <summary>What a listing asks for. Null filters are left out of the statement, so each shape meets its index. Amounts (the
/// console's filter) are minor units of <see cref="Currency"/>.</summary>
public sealed record PaymentFilter(
    string? MerchantId, string? Status, string? OrderId, string? Currency, DateTimeOffset? From, DateTimeOffset? To, PaymentCursor? After, int Limit,
    long? MinAmount = null, long? MaxAmount = null);

/// <summary>
/// GET /v1/payments: newest first, filtered, keyset-paged by <c>startingAfter</c> (a payment id). Served by
/// the (merchant_id, created_at desc, id desc) index, or (created_at desc, id desc) for the auditor.
/// </summary>
public static class ListPayments
{
    private static readonly string[] Statuses = ["pending", "succeeded", "failed", "partially_refunded", "refunded"];

    public static void Configure(HttpChain chain) =>
        chain.Metadata.RequireAuthorization(Policies.Reader)
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

    [WolverineGet("/v1/payments")]
    public static async Task<IResult> Handle(HttpContext http, ReadReplica reads)
    {
        return await reads.ReadAsync(http, async db =>
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
            PaymentCursor? after = null;
            if (startingAfter is not null)
            {
                var cursor = await GetPayment.FindAsync(db, startingAfter, merchant, ct)
                    ?? throw ApiProblem.Validation("startingAfter", "Not a payment id from a previous page.");
                after = new PaymentCursor(cursor.CreatedAt, cursor.Id);
            }
            await using var cmd = Command(db, new PaymentFilter(merchant, status, orderId, currency, from, to, after, limit + 1));

            var page = new List<PaymentResource>(limit + 1);
            await using (var reader = await cmd.ExecuteReaderAsync(ct))
                while (await reader.ReadAsync(ct)) page.Add(PaymentResource.FromRow(reader));
            var hasMore = page.Count > limit;
            var body = new PaymentList(hasMore ? page[..limit] : page, hasMore);
            return Results.Text(System.Text.Json.JsonSerializer.Serialize(body, ApiJson.Default.PaymentList), "application/json");
        });
    }

    /// <summary>The listing's statement. The plan spec EXPLAINs this very command, so the SQL it checks is the SQL sent.</summary>
    public static NpgsqlCommand Command(NpgsqlDataSource db, PaymentFilter f)
    {
        var cmd = db.CreateCommand();
        var filters = new List<string>();
        void Filter(string sql, params object[] values)
        {
            var names = values.Select(v => { cmd.Parameters.Add(new NpgsqlParameter { Value = v }); return $"${cmd.Parameters.Count}"; }).ToArray();
            filters.Add(string.Format(System.Globalization.CultureInfo.InvariantCulture, sql, names));
        }

        if (f.MerchantId is not null) Filter("merchant_id = {0}", f.MerchantId);
        if (f.Status is not null) Filter("status = {0}", f.Status);
        if (f.OrderId is not null) Filter("order_id = {0}", f.OrderId);
        if (f.Currency is not null) Filter("currency = {0}", f.Currency);
        if (f.From is not null) Filter("created_at >= {0}", f.From.Value.UtcDateTime);
        if (f.To is not null) Filter("created_at <= {0}", f.To.Value.UtcDateTime);
        if (f.MinAmount is not null) Filter("amount >= {0}", f.MinAmount.Value);
        if (f.MaxAmount is not null) Filter("amount <= {0}", f.MaxAmount.Value);
        if (f.After is not null) Filter("(created_at, id) < ({0}, {1})", f.After.CreatedAt, f.After.Id);
        cmd.Parameters.Add(new NpgsqlParameter { Value = f.Limit });
        cmd.CommandText = $"""
            select {PaymentResource.ViewColumns} from payment_views
            {(filters.Count > 0 ? "where " + string.Join(" and ", filters) : "")}
            order by created_at desc, id desc
            limit ${cmd.Parameters.Count}
            """;
        return cmd;
    }
}
