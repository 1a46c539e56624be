using Ledger.Domain.Money;
using Ledger.Host.Http;
using Npgsql;
using Wolverine.Http;

namespace Ledger.Host.Reporting;

/// <summary>An account's totals. <see cref="Balance"/> is debit-positive: debits minus credits.</summary>
public sealed record AccountBalance(string Account, string Currency, long Debits, long Credits, long Balance);

public sealed record CurrencyTotals(string Currency, long Debits, long Credits, bool Balanced);

public sealed record BalanceReport(IReadOnlyList<AccountBalance> Data, IReadOnlyList<CurrencyTotals>? Totals);

/// <summary>GET /v1/ledger/balances?currency=: a merchant sees its own accounts; the auditor every account and the per-currency totals.</summary>
public static class GetBalances
{
    public static void Configure(HttpChain chain) =>
        chain.Metadata.RequireAuthorization(Policies.Reader)
            .WithTags("Reporting").WithName("GetBalances").WithSummary("Double-entry account balances")
            .WithDescription("balance is debits minus credits. The auditor also gets per-currency totals, where debits equal credits.")
            .Produces<BalanceReport>().Problems(400).WithMetadata(new QueryParameter("currency", "Only this currency (ISO 4217)."));

    [WolverineGet("/v1/ledger/balances")]
    public static async Task<IResult> Handle(HttpContext http, ReadReplica reads)
    {
        return await reads.ReadAsync(http, async db =>
        {
            var query = new Query(http.Request);
            var currency = query.Text("currency", 3);
            if (currency is not null && !Currency.TryFind(currency, out _)) query.Fail("currency", "Unsupported currency.");
            query.ThrowIfInvalid();
            var merchant = http.User.IsAuditor() ? null : http.User.MerchantId();

            var accounts = await ReadAsync(db, currency, merchant is null ? null : $"merchant:{merchant}:", http.RequestAborted);
            var totals = merchant is null
                ? accounts.GroupBy(a => a.Currency).Select(g =>
                    new CurrencyTotals(g.Key, g.Sum(a => a.Debits), g.Sum(a => a.Credits), g.Sum(a => a.Debits) == g.Sum(a => a.Credits))).ToList()
                : null;
            return Results.Text(System.Text.Json.JsonSerializer.Serialize(new BalanceReport(accounts, totals), ApiJson.Default.BalanceReport), "application/json");
        });
    }

    /// <param name="accountPrefix">Only accounts that start with this text (compared as text: no wildcards).</param>
    public static async Task<List<AccountBalance>> ReadAsync(NpgsqlDataSource db, string? currency, string? accountPrefix, CancellationToken ct)
    {
        await using var cmd = db.CreateCommand("""
            select account, currency, sum(debits)::bigint, sum(credits)::bigint from ledger_balances
            where ($1::text is null or currency = $1) and ($2::text is null or starts_with(account, $2))
            group by account, currency order by currency, account
            """);
        cmd.Parameters.Add(new NpgsqlParameter { Value = (object?)currency ?? DBNull.Value, NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Text });
        cmd.Parameters.Add(new NpgsqlParameter { Value = (object?)accountPrefix ?? DBNull.Value, NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Text });
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        var result = new List<AccountBalance>();
        while (await reader.ReadAsync(ct))
            result.Add(new AccountBalance(reader.GetString(0), reader.GetString(1), reader.GetInt64(2), reader.GetInt64(3), reader.GetInt64(2) - reader.GetInt64(3)));
        return result;
    }
}
