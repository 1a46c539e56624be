using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using Shouldly;
using Xunit;

namespace Ledger.Api.Tests;

/// <summary>
/// For a random mix of charges, declines and refunds across merchants, currencies and days, every read model says
/// what a fold over the events, computed here with plain arithmetic and independently of the product's code, says:
/// each view, each receipt line, each metrics total, failure code and daily bucket, each account of the books.
/// </summary>
public sealed class ReadModelPropertySpecs(LedgerApp app) : IClassFixture<LedgerApp>
{
    private static readonly string[] Cards = [Requests.GoodCard, Requests.GoodCard, Requests.GoodCard, "5555555555554444", "4000000000000002", "4000000000009995", "4000000000000127"];
    private static readonly string[] Currencies = ["USD", "JPY", "KWD"];

    private sealed record Line(string Kind, long Amount, DateTimeOffset At, string Reference);

    private sealed record Folded(string Id, string Merchant, string Currency, long Amount, string Status, long Refunded, List<Line> Lines,
        string? FailureCode, string? ReceiptNumber, long Version);

    /// <summary>One event's contribution to the metrics, on the day of the event.</summary>
    private sealed record Counted(string Merchant, string Currency, string Day, long Created, long Succeeded, long Failed, long Refunds,
        long Gross, long Refunded, string? FailureCode);

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    [InlineData(5)]
    [InlineData(6)]
    public async Task Views_metrics_receipts_and_books_equal_an_independent_fold_of_the_log(int seed)
    {
        var random = new Random(seed);
        var clients = new[] { app.Client(LedgerApp.Acme), app.Client(LedgerApp.Globex) };
        var charged = new List<(HttpClient Client, string Id)>();
        for (var op = 0; op < 120; op++)
        {
            var client = clients[random.Next(clients.Length)];
            var roll = random.Next(10);
            if (roll == 0) app.Clock.Advance(TimeSpan.FromHours(random.Next(1, 30))); // spread events over days
            else if (charged.Count > 0 && roll < 4)
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

        var (folded, counted) = await FoldLogAsync();
        folded.Values.ShouldNotContain(p => p.Status == "pending");
        var auditor = app.Client(LedgerApp.Auditor);

        foreach (var p in folded.Values)
        {
            var view = await (await auditor.GetAsync($"/v1/payments/{p.Id}")).Json();
            (view.Str("merchantId"), view.Str("status"), view.GetProperty("amount").GetInt64(), view.Str("currency"),
                    view.GetProperty("amountRefunded").GetInt64(), view.GetProperty("amountRefundable").GetInt64(),
                    view.GetProperty("failureCode").GetString(), view.GetProperty("receiptNumber").GetString(), view.GetProperty("version").GetInt64())
                .ShouldBe((p.Merchant, p.Status, p.Amount, p.Currency, p.Refunded, p.Status == "failed" ? 0 : p.Amount - p.Refunded,
                    p.FailureCode, p.ReceiptNumber, p.Version), p.Id);

            var receipt = await auditor.GetAsync($"/v1/payments/{p.Id}/receipt");
            if (p.Status == "failed")
            {
                receipt.StatusCode.ShouldBe(HttpStatusCode.NotFound, p.Id);
                continue;
            }
            var r = await receipt.Json();
            (r.Str("receiptNumber"), r.GetProperty("totalCharged").GetInt64(), r.GetProperty("totalRefunded").GetInt64(), r.GetProperty("net").GetInt64())
                .ShouldBe((p.ReceiptNumber!, p.Amount, p.Refunded, p.Amount - p.Refunded), p.Id);
            r.GetProperty("lines").EnumerateArray()
                .Select(l => new Line(l.Str("kind"), l.GetProperty("amount").GetInt64(), Micros(l.GetProperty("at").GetDateTimeOffset()), l.Str("reference")))
                .ShouldBe(p.Lines, p.Id);
        }

        var metrics = await (await auditor.GetAsync("/v1/metrics")).Json();
        ShouldMatch(metrics.GetProperty("currencies"), counted, "all merchants");
        var merchants = metrics.GetProperty("merchants").EnumerateArray().ToList();
        merchants.Select(m => m.Str("merchantId")).ShouldBe(counted.Select(c => c.Merchant).Distinct().Order(StringComparer.Ordinal));
        foreach (var merchant in merchants)
            ShouldMatch(merchant.GetProperty("currencies"), counted.Where(c => c.Merchant == merchant.Str("merchantId")).ToList(), merchant.Str("merchantId"));

        // The books, posted here by hand: a charge debits the gateway's clearing account and credits the merchant, a refund the reverse.
        var expected = new Dictionary<(string Account, string Currency), (long Debits, long Credits)>();
        void Post(string debit, string credit, string currency, long amount)
        {
            var d = expected.GetValueOrDefault((debit, currency));
            expected[(debit, currency)] = (d.Debits + amount, d.Credits);
            var c = expected.GetValueOrDefault((credit, currency));
            expected[(credit, currency)] = (c.Debits, c.Credits + amount);
        }
        foreach (var p in folded.Values)
        foreach (var line in p.Lines)
        {
            var merchantAccount = $"merchant:{p.Merchant}:available";
            if (line.Kind == "charge") Post("gateway_clearing", merchantAccount, p.Currency, line.Amount);
            else Post(merchantAccount, "gateway_clearing", p.Currency, line.Amount);
        }
        var books = await (await auditor.GetAsync("/v1/ledger/balances")).Json();
        var accounts = books.GetProperty("data").EnumerateArray().ToList();
        accounts.Select(a => (a.Str("account"), a.Str("currency"))).Order().ShouldBe(expected.Keys.Order());
        foreach (var a in accounts)
        {
            var (debits, credits) = expected[(a.Str("account"), a.Str("currency"))];
            (a.GetProperty("debits").GetInt64(), a.GetProperty("credits").GetInt64(), a.GetProperty("balance").GetInt64())
                .ShouldBe((debits, credits, debits - credits), a.Str("account"));
        }
        // Balanced, checked from the accounts the server lists, not from its own flag; and its totals say the same.
        var totals = books.GetProperty("totals").EnumerateArray().ToDictionary(t => t.Str("currency"));
        foreach (var currency in accounts.GroupBy(a => a.Str("currency")))
        {
            var (debits, credits) = (currency.Sum(a => a.GetProperty("debits").GetInt64()), currency.Sum(a => a.GetProperty("credits").GetInt64()));
            debits.ShouldBe(credits, currency.Key);
            var t = totals[currency.Key];
            (t.GetProperty("debits").GetInt64(), t.GetProperty("credits").GetInt64(), t.GetProperty("balanced").GetBoolean()).ShouldBe((debits, credits, true));
        }
        totals.Keys.Order().ShouldBe(accounts.Select(a => a.Str("currency")).Distinct().Order());
    }

    private static void ShouldMatch(JsonElement currencies, IReadOnlyList<Counted> counted, string who)
    {
        currencies.EnumerateArray().Select(c => c.Str("currency")).ShouldBe(counted.Select(c => c.Currency).Distinct().Order(StringComparer.Ordinal), who);
        foreach (var c in currencies.EnumerateArray())
        {
            var mine = counted.Where(x => x.Currency == c.Str("currency")).ToList();
            var label = $"{who} {c.Str("currency")}";
            Totals(c).ShouldBe(Sum(mine), label);
            c.GetProperty("failuresByCode").EnumerateObject().Select(f => (f.Name, f.Value.GetInt64()))
                .ShouldBe(mine.Where(x => x.FailureCode is not null).GroupBy(x => x.FailureCode!).OrderBy(g => g.Key, StringComparer.Ordinal)
                    .Select(g => (g.Key, (long)g.Count())), label);
            c.GetProperty("daily").EnumerateArray().Select(d => (d.Str("date"), Totals(d)))
                .ShouldBe(mine.GroupBy(x => x.Day).OrderBy(g => g.Key, StringComparer.Ordinal).Select(g => (g.Key, Sum([.. g]))), label);
        }
    }

    private static (long, long, long, long, long, long, long) Totals(JsonElement c) =>
        (c.GetProperty("paymentsCreated").GetInt64(), c.GetProperty("paymentsSucceeded").GetInt64(), c.GetProperty("paymentsFailed").GetInt64(),
         c.GetProperty("refundsCount").GetInt64(), c.GetProperty("grossCharged").GetInt64(), c.GetProperty("refunded").GetInt64(), c.GetProperty("net").GetInt64());

    private static (long, long, long, long, long, long, long) Sum(IReadOnlyList<Counted> x) =>
        (x.Sum(c => c.Created), x.Sum(c => c.Succeeded), x.Sum(c => c.Failed), x.Sum(c => c.Refunds), x.Sum(c => c.Gross), x.Sum(c => c.Refunded),
         x.Sum(c => c.Gross) - x.Sum(c => c.Refunded));

    /// <summary>The log folded with plain arithmetic over its JSON: no domain or projection code involved.</summary>
    private async Task<(Dictionary<string, Folded>, List<Counted>)> FoldLogAsync()
    {
        var folded = new Dictionary<string, Folded>();
        var counted = new List<Counted>();
        await using var ds = app.Database.CreateDataSource();
        await using var cmd = ds.CreateCommand("select stream_id, type, version, data::text from ledger.events order by stream_id, version");
        await using var reader = await cmd.ExecuteReaderAsync();
        while (await reader.ReadAsync())
        {
            var (id, type, version, data) = (reader.GetString(0), reader.GetString(1), reader.GetInt64(2), JsonDocument.Parse(reader.GetString(3)).RootElement);
            var at = Micros(data.GetProperty("at").GetDateTimeOffset());
            var day = at.UtcDateTime.ToString("yyyy-MM-dd", System.Globalization.CultureInfo.InvariantCulture);
            var (merchant, currency) = (data.Str("merchantId"), data.Str("currency"));
            var amount = data.GetProperty("amount").GetInt64();
            switch (type)
            {
                case "payment_requested":
                    folded[id] = new Folded(id, merchant, currency, amount, "pending", 0, [], null, null, version);
                    counted.Add(new Counted(merchant, currency, day, 1, 0, 0, 0, 0, 0, null));
                    break;
                case "payment_charged":
                    folded[id].Lines.Add(new Line("charge", amount, at, data.Str("gatewayReference")));
                    folded[id] = folded[id] with { Status = "succeeded", ReceiptNumber = data.Str("receiptNumber"), Version = version };
                    counted.Add(new Counted(merchant, currency, day, 0, 1, 0, 0, amount, 0, null));
                    break;
                case "payment_failed":
                    folded[id] = folded[id] with { Status = "failed", FailureCode = data.Str("failureCode"), Version = version };
                    counted.Add(new Counted(merchant, currency, day, 0, 0, 1, 0, 0, 0, data.Str("failureCode")));
                    break;
                case "payment_refunded":
                    var p = folded[id];
                    p.Lines.Add(new Line("refund", amount, at, data.Str("refundId")));
                    var refunded = p.Refunded + amount;
                    folded[id] = p with { Refunded = refunded, Status = refunded == p.Amount ? "refunded" : "partially_refunded", Version = version };
                    counted.Add(new Counted(merchant, currency, day, 0, 0, 0, 1, 0, amount, null));
                    break;
                default:
                    throw new InvalidOperationException(type);
            }
        }
        return (folded, counted);
    }

    /// <summary>PostgreSQL keeps microseconds; the events' JSON may carry ticks.</summary>
    private static DateTimeOffset Micros(DateTimeOffset t) => new(t.UtcTicks - t.UtcTicks % 10, TimeSpan.Zero);
}
