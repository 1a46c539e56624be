using Ledger.Host.Http;
using Npgsql;
using Wolverine.Http;

namespace Ledger.Host.Reporting;

public sealed record Counters(long PaymentsCreated, long PaymentsSucceeded, long PaymentsFailed, long RefundsCount, long GrossCharged, long Refunded)
{
    public long Net => GrossCharged - Refunded;
    public static readonly Counters Zero = new(0, 0, 0, 0, 0, 0);
    public Counters Plus(Counters o) => new(PaymentsCreated + o.PaymentsCreated, PaymentsSucceeded + o.PaymentsSucceeded,
        PaymentsFailed + o.PaymentsFailed, RefundsCount + o.RefundsCount, GrossCharged + o.GrossCharged, Refunded + o.Refunded);
}

public sealed record DailyMetrics(DateOnly Date, long PaymentsCreated, long PaymentsSucceeded, long PaymentsFailed, long RefundsCount,
    long GrossCharged, long Refunded, long Net);

public sealed record CurrencyMetrics(string Currency, long PaymentsCreated, long PaymentsSucceeded, long PaymentsFailed, long RefundsCount,
    long GrossCharged, long Refunded, long Net, IReadOnlyDictionary<string, long> FailuresByCode, IReadOnlyList<DailyMetrics> Daily);

public sealed record MerchantMetrics(string MerchantId, IReadOnlyList<CurrencyMetrics> Currencies);

public sealed record MetricsReport(IReadOnlyList<CurrencyMetrics> Currencies, IReadOnlyList<MerchantMetrics>? Merchants);

/// <summary>GET /v1/metrics: the metrics tables, stripes summed. A merchant sees its own; the auditor all, by merchant too.</summary>
public static class GetMetrics
{
    public static void Configure(HttpChain chain) =>
        chain.Metadata.RequireAuthorization(Policies.Reader)
            .WithTags("Reporting").WithName("GetMetrics").WithSummary("Business metrics per currency and day; the auditor's include every merchant")
            .WithDescription("Counts and amounts in minor units, failures by code, and daily buckets (UTC).")
            .Produces<MetricsReport>().Problems(400);

    private sealed record Row(string Merchant, string Currency, DateOnly Day, Counters Counters);
    private sealed record Failure(string Merchant, string Currency, string Code, long Count);

    [WolverineGet("/v1/metrics")]
    public static async Task<IResult> Handle(HttpContext http, ReadReplica reads)
    {
        return await reads.ReadAsync(http, async db =>
        {
            var report = await ReportAsync(db, http.User.IsAuditor() ? null : http.User.MerchantId(), http.RequestAborted);
            return Results.Text(System.Text.Json.JsonSerializer.Serialize(report, ApiJson.Default.MetricsReport), "application/json");
        });
    }

    /// <summary>The report for one merchant, or (null) for everyone with a section per merchant.</summary>
    public static async Task<MetricsReport> ReportAsync(NpgsqlDataSource db, string? merchant, CancellationToken ct)
    {
        var (rows, failures) = await ReadAsync(db, merchant, ct);
        return new MetricsReport(
            Summarise(rows, failures),
            merchant is null
                ? rows.Select(r => r.Merchant).Distinct().Order(StringComparer.Ordinal)
                    .Select(m => new MerchantMetrics(m, Summarise(rows.Where(r => r.Merchant == m), failures.Where(f => f.Merchant == m)))).ToList()
                : null);
    }

    private static List<CurrencyMetrics> Summarise(IEnumerable<Row> rows, IEnumerable<Failure> failures) =>
        rows.GroupBy(r => r.Currency).OrderBy(g => g.Key, StringComparer.Ordinal).Select(byCurrency =>
        {
            var total = byCurrency.Aggregate(Counters.Zero, (sum, r) => sum.Plus(r.Counters));
            var daily = byCurrency.GroupBy(r => r.Day).OrderBy(d => d.Key).Select(d =>
            {
                var c = d.Aggregate(Counters.Zero, (sum, r) => sum.Plus(r.Counters));
                return new DailyMetrics(d.Key, c.PaymentsCreated, c.PaymentsSucceeded, c.PaymentsFailed, c.RefundsCount, c.GrossCharged, c.Refunded, c.Net);
            }).ToList();
            var byCode = failures.Where(f => f.Currency == byCurrency.Key).GroupBy(f => f.Code)
                .OrderBy(g => g.Key, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.Sum(f => f.Count));
            return new CurrencyMetrics(byCurrency.Key, total.PaymentsCreated, total.PaymentsSucceeded, total.PaymentsFailed, total.RefundsCount,
                total.GrossCharged, total.Refunded, total.Net, byCode, daily);
        }).ToList();

    private static async Task<(List<Row>, List<Failure>)> ReadAsync(NpgsqlDataSource db, string? merchant, CancellationToken ct)
    {
        await using var batch = db.CreateBatch();
        foreach (var sql in new[]
        {
            """
            select merchant_id, currency, day, sum(payments_created), sum(payments_succeeded), sum(payments_failed),
                   sum(refunds_count), sum(gross_charged), sum(refunded)
            from metrics_daily where ($1::text is null or merchant_id = $1)
            group by merchant_id, currency, day
            """,
            """
            select merchant_id, currency, code, sum(count) from metrics_failures where ($1::text is null or merchant_id = $1)
            group by merchant_id, currency, code
            """,
        })
        {
            var cmd = new NpgsqlBatchCommand(sql);
            cmd.Parameters.Add(new NpgsqlParameter { Value = (object?)merchant ?? DBNull.Value, NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Text });
            batch.BatchCommands.Add(cmd);
        }
        await using var reader = await batch.ExecuteReaderAsync(ct);
        var rows = new List<Row>();
        while (await reader.ReadAsync(ct))
            rows.Add(new Row(reader.GetString(0), reader.GetString(1), reader.GetFieldValue<DateOnly>(2), new Counters(
                reader.GetInt64(3), reader.GetInt64(4), reader.GetInt64(5), reader.GetInt64(6), reader.GetInt64(7), reader.GetInt64(8))));
        await reader.NextResultAsync(ct);
        var failures = new List<Failure>();
        while (await reader.ReadAsync(ct)) failures.Add(new Failure(reader.GetString(0), reader.GetString(1), reader.GetString(2), reader.GetInt64(3)));
        return (rows, failures);
    }
}
