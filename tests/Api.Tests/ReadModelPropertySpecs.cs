using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using Shouldly;
using Xunit;

namespace Ledger.Api.Tests;

/// <summary>
/// For a random mix of charges, declines and refunds across merchants and currencies, every read model says
/// what a fold over the events, computed here independently of the product's code, says.
/// </summary>
public sealed class ReadModelPropertySpecs(LedgerApp app) : IClassFixture<LedgerApp>
{
    private static readonly string[] Cards = [Requests.GoodCard, Requests.GoodCard, Requests.GoodCard, "5555555555554444", "4000000000000002", "4000000000009995"];
    private static readonly string[] Currencies = ["USD", "JPY", "KWD"];

    private sealed record Folded(string Id, string Merchant, string Currency, long Amount, string Status, long Refunded, List<(long Amount, string Day)> Refunds, string? FailureCode, string CreatedDay);

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public async Task Views_metrics_receipts_and_books_equal_an_independent_fold_of_the_log(int seed)
    {
        var random = new Random(seed);
        var clients = new[] { app.Client(LedgerApp.Acme), app.Client(LedgerApp.Globex) };
        var charged = new List<(HttpClient Client, string Id)>();
        for (var op = 0; op < 60; op++)
        {
            var client = clients[random.Next(clients.Length)];
            if (charged.Count > 0 && random.Next(4) == 0)
            {
                var (owner, id) = charged[random.Next(charged.Count)];
                var body = random.Next(3) == 0 ? new JsonObject() : new JsonObject { ["amount"] = random.Next(1, 800) };
                var refund = await owner.PostJson($"/v1/payments/{id}/refunds", body, Requests.NewKey());
                new[] { HttpStatusCode.Created, HttpStatusCode.Conflict, HttpStatusCode.UnprocessableEntity }.ShouldContain(refund.StatusCode);
            }
            else
            {
                var response = await client.Charge(Requests.Charge(amount: random.Next(1, 2000), currency: Currencies[random.Next(3)], card: Cards[random.Next(Cards.Length)]));
                response.StatusCode.ShouldBe(HttpStatusCode.Created);
                var payment = await response.Json();
                if (payment.Str("status") == "succeeded") charged.Add((client, payment.Str("id")));
            }
        }

        var folded = await FoldLogAsync();
        var auditor = app.Client(LedgerApp.Auditor);

        foreach (var p in folded.Values)
        {
            var view = await (await auditor.GetAsync($"/v1/payments/{p.Id}")).Json();
            (view.Str("status"), view.GetProperty("amountRefunded").GetInt64(), view.GetProperty("amount").GetInt64(), view.Str("currency"))
                .ShouldBe((p.Status, p.Refunded, p.Amount, p.Currency), p.Id);
            var receipt = await auditor.GetAsync($"/v1/payments/{p.Id}/receipt");
            if (p.Status == "failed") receipt.StatusCode.ShouldBe(HttpStatusCode.NotFound);
            else
            {
                var r = await receipt.Json();
                (r.GetProperty("totalCharged").GetInt64(), r.GetProperty("totalRefunded").GetInt64(), r.GetProperty("lines").GetArrayLength())
                    .ShouldBe((p.Amount, p.Refunded, 1 + p.Refunds.Count), p.Id);
            }
        }

        var metrics = await (await auditor.GetAsync("/v1/metrics")).Json();
        foreach (var merchant in metrics.GetProperty("merchants").EnumerateArray())
        foreach (var c in merchant.GetProperty("currencies").EnumerateArray())
        {
            var mine = folded.Values.Where(p => p.Merchant == merchant.Str("merchantId") && p.Currency == c.Str("currency")).ToList();
            var label = $"{merchant.Str("merchantId")} {c.Str("currency")}";
            c.GetProperty("paymentsCreated").GetInt64().ShouldBe(mine.Count, label);
            c.GetProperty("paymentsSucceeded").GetInt64().ShouldBe(mine.Count(p => p.Status != "failed"), label);
            c.GetProperty("paymentsFailed").GetInt64().ShouldBe(mine.Count(p => p.Status == "failed"), label);
            c.GetProperty("refundsCount").GetInt64().ShouldBe(mine.Sum(p => p.Refunds.Count), label);
            c.GetProperty("grossCharged").GetInt64().ShouldBe(mine.Where(p => p.Status != "failed").Sum(p => p.Amount), label);
            c.GetProperty("refunded").GetInt64().ShouldBe(mine.Sum(p => p.Refunded), label);
            foreach (var code in c.GetProperty("failuresByCode").EnumerateObject())
                code.Value.GetInt64().ShouldBe(mine.Count(p => p.FailureCode == code.Name), label);
        }
        metrics.GetProperty("merchants").EnumerateArray().Sum(m => m.GetProperty("currencies").GetArrayLength())
            .ShouldBe(folded.Values.Select(p => (p.Merchant, p.Currency)).Distinct().Count());

        var books = await (await auditor.GetAsync("/v1/ledger/balances")).Json();
        var balances = books.GetProperty("data").EnumerateArray().ToDictionary(a => (a.Str("account"), a.Str("currency")), a => a.GetProperty("balance").GetInt64());
        foreach (var group in folded.Values.Where(p => p.Status != "failed").GroupBy(p => (p.Merchant, p.Currency)))
            balances[($"merchant:{group.Key.Merchant}:available", group.Key.Currency)].ShouldBe(-group.Sum(p => p.Amount - p.Refunded));
        foreach (var group in folded.Values.Where(p => p.Status != "failed").GroupBy(p => p.Currency))
            balances[("gateway_clearing", group.Key)].ShouldBe(group.Sum(p => p.Amount - p.Refunded));
        books.GetProperty("totals").EnumerateArray().ShouldAllBe(t => t.GetProperty("balanced").GetBoolean());
    }

    /// <summary>The log folded with plain arithmetic over its JSON: no domain code involved.</summary>
    private async Task<Dictionary<string, Folded>> FoldLogAsync()
    {
        var folded = new Dictionary<string, Folded>();
        await using var ds = app.Database.CreateDataSource();
        await using var cmd = ds.CreateCommand("select stream_id, type, data::text from events order by stream_id, version");
        await using var reader = await cmd.ExecuteReaderAsync();
        while (await reader.ReadAsync())
        {
            var (id, type, data) = (reader.GetString(0), reader.GetString(1), JsonDocument.Parse(reader.GetString(2)).RootElement);
            var day = data.GetProperty("at").GetDateTimeOffset().UtcDateTime.ToString("yyyy-MM-dd");
            folded[id] = type switch
            {
                "payment_requested" => new Folded(id, data.Str("merchantId"), data.Str("currency"), data.GetProperty("amount").GetInt64(), "pending", 0, [], null, day),
                "payment_charged" => folded[id] with { Status = "succeeded" },
                "payment_failed" => folded[id] with { Status = "failed", FailureCode = data.Str("failureCode") },
                "payment_refunded" => Refund(folded[id], data.GetProperty("amount").GetInt64(), day),
                _ => throw new InvalidOperationException(type),
            };
        }
        return folded;
    }

    private static Folded Refund(Folded p, long amount, string day)
    {
        p.Refunds.Add((amount, day));
        var refunded = p.Refunded + amount;
        return p with { Refunded = refunded, Status = refunded == p.Amount ? "refunded" : "partially_refunded" };
    }
}
