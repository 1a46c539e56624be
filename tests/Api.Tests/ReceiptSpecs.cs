using System.Net;
using System.Net.Http.Headers;
using System.Text.Json.Nodes;
using Shouldly;
using Xunit;

namespace Ledger.Api.Tests;

public sealed class ReceiptSpecs(LedgerApp app) : IClassFixture<LedgerApp>
{
    private readonly HttpClient _acme = app.Client(LedgerApp.Acme);

    [Fact]
    public async Task A_succeeded_payment_has_a_receipt_with_a_line_per_charge_and_refund()
    {
        var payment = await (await _acme.Charge(Requests.Charge(amount: 1250, orderId: "order-r1"))).Json();
        var id = payment.Str("id");
        var refund = (await (await _acme.PostJson($"/v1/payments/{id}/refunds", new JsonObject { ["amount"] = 250 }, Requests.NewKey())).Json())
            .GetProperty("refund");

        var response = await _acme.GetAsync($"/v1/payments/{id}/receipt");

        response.StatusCode.ShouldBe(HttpStatusCode.OK);
        var receipt = await response.Json();
        receipt.Str("receiptNumber").ShouldBe(payment.Str("receiptNumber"));
        (receipt.Str("merchantId"), receipt.Str("paymentId"), receipt.Str("orderId"), receipt.Str("currency")).ShouldBe(("acme", id, "order-r1", "USD"));
        (receipt.GetProperty("card").Str("brand"), receipt.GetProperty("card").Str("last4")).ShouldBe(("visa", "4242"));
        var lines = receipt.GetProperty("lines").EnumerateArray().Select(l => (l.Str("kind"), l.GetProperty("amount").GetInt64())).ToList();
        lines.ShouldBe([("charge", 1250L), ("refund", 250L)]);
        receipt.GetProperty("lines")[1].Str("reference").ShouldBe(refund.Str("id"));
        (receipt.GetProperty("totalCharged").GetInt64(), receipt.GetProperty("totalRefunded").GetInt64(), receipt.GetProperty("net").GetInt64())
            .ShouldBe((1250L, 250L, 1000L));
    }

    [Fact]
    public async Task The_receipt_is_a_printable_page_for_browsers()
    {
        var payment = await (await _acme.Charge(Requests.Charge(amount: 1250, currency: "KWD", orderId: "<script>"))).Json();
        var request = new HttpRequestMessage(HttpMethod.Get, $"/v1/payments/{payment.Str("id")}/receipt");
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("text/html"));

        var response = await _acme.SendAsync(request);

        response.StatusCode.ShouldBe(HttpStatusCode.OK);
        response.Content.Headers.ContentType!.MediaType.ShouldBe("text/html");
        var html = await response.Content.ReadAsStringAsync();
        html.ShouldContain(payment.Str("receiptNumber"));
        html.ShouldContain("KWD 1.250");
        html.ShouldContain("&lt;script&gt;");
        html.ShouldNotContain("<script>");
    }

    [Fact]
    public async Task The_page_is_a_receipt_a_merchant_hands_out_name_amounts_status_refunds_description_and_card()
    {
        var payment = await (await _acme.Charge(Requests.Charge(amount: 123456, currency: "USD", orderId: "order-77"))).Json();
        var id = payment.Str("id");
        await _acme.PostJson($"/v1/payments/{id}/refunds", new JsonObject { ["amount"] = 2500 }, Requests.NewKey());
        await _acme.PostJson($"/v1/payments/{id}/refunds", new JsonObject { ["amount"] = 1000 }, Requests.NewKey());

        var html = await ReceiptHtml(id);

        html.ShouldContain("Acme Coffee Roasters");              // the merchant's display name, not its id
        html.ShouldContain("Partly refunded");                   // the status in words
        html.ShouldContain("$1,234.56");                         // the amount as people write it
        html.ShouldContain("&minus;$25.00");
        html.ShouldContain("&minus;$10.00");
        html.ShouldContain("$1,199.56");                         // net
        html.ShouldContain("2 coffees");                         // the description
        html.ShouldContain("order-77");
        html.ShouldContain("Visa ending in 4242");
        System.Text.RegularExpressions.Regex.Matches(html, "<td>Refund</td>").Count.ShouldBe(2);
        html.ShouldNotContain("http://");                        // self-contained: nothing to fetch
        html.ShouldNotContain("https://");
        html.ShouldContain("@page");
    }

    [Theory]
    [InlineData("JPY", 5000, "¥5,000", "Paid")]
    [InlineData("KWD", 12345, "KWD 12.345", "Paid")]
    public async Task Amounts_follow_the_currency_symbol_and_decimals(string currency, long amount, string shown, string status)
    {
        var payment = await (await _acme.Charge(Requests.Charge(amount: amount, currency: currency))).Json();

        var html = await ReceiptHtml(payment.Str("id"));

        html.ShouldContain(System.Net.WebUtility.HtmlEncode(shown));
        html.ShouldContain(status);
    }

    [Fact]
    public async Task A_fully_refunded_payment_says_so()
    {
        var id = (await (await _acme.Charge(Requests.Charge(amount: 900))).Json()).Str("id");
        await _acme.PostJson($"/v1/payments/{id}/refunds", new JsonObject(), Requests.NewKey());

        (await ReceiptHtml(id)).ShouldContain(">Refunded</span>");
    }

    private async Task<string> ReceiptHtml(string id)
    {
        var request = new HttpRequestMessage(HttpMethod.Get, $"/v1/payments/{id}/receipt");
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("text/html"));
        var response = await _acme.SendAsync(request);
        response.StatusCode.ShouldBe(HttpStatusCode.OK);
        return await response.Content.ReadAsStringAsync();
    }

    [Fact]
    public async Task A_payment_that_never_succeeded_has_no_receipt()
    {
        var declined = await (await _acme.Charge(Requests.Charge(card: "4000000000000002"))).Json();

        var response = await _acme.GetAsync($"/v1/payments/{declined.Str("id")}/receipt");

        await IdempotencySpecs.ShouldBeProblem(response, HttpStatusCode.NotFound, "payment_not_found");
    }

    [Fact]
    public async Task Receipt_numbers_are_unique_per_merchant_and_increase_with_time()
    {
        var numbers = new List<string>();
        for (var i = 0; i < 5; i++) numbers.Add((await (await _acme.Charge()).Json()).Str("receiptNumber"));

        numbers.ShouldBeUnique();
        numbers.ShouldBe(numbers.OrderBy(n => n, StringComparer.Ordinal).ToList());
        numbers.ShouldAllBe(n => n.StartsWith("ACME-"));
    }
}

public sealed class MetricsSpecs(LedgerApp app) : IClassFixture<LedgerApp>
{
    [Fact]
    public async Task Metrics_count_charges_declines_and_refunds_per_currency_and_day_and_merchants_see_only_their_own()
    {
        var acme = app.Client(LedgerApp.Acme);
        var id = (await (await acme.Charge(Requests.Charge(amount: 1000))).Json()).Str("id");
        await acme.Charge(Requests.Charge(amount: 500));
        await acme.Charge(Requests.Charge(card: "4000000000000002"));
        await acme.Charge(Requests.Charge(card: "4000000000009995", currency: "EUR"));
        await acme.PostJson($"/v1/payments/{id}/refunds", new JsonObject { ["amount"] = 300 }, Requests.NewKey());
        await app.Client(LedgerApp.Globex).Charge(Requests.Charge(amount: 9999));

        var mine = await (await acme.GetAsync("/v1/metrics")).Json();
        var usd = mine.GetProperty("currencies").EnumerateArray().Single(c => c.Str("currency") == "USD");
        (usd.GetProperty("paymentsCreated").GetInt64(), usd.GetProperty("paymentsSucceeded").GetInt64(), usd.GetProperty("paymentsFailed").GetInt64(),
            usd.GetProperty("refundsCount").GetInt64(), usd.GetProperty("grossCharged").GetInt64(), usd.GetProperty("refunded").GetInt64(),
            usd.GetProperty("net").GetInt64()).ShouldBe((3L, 2L, 1L, 1L, 1500L, 300L, 1200L));
        usd.GetProperty("failuresByCode").GetProperty("card_declined").GetInt64().ShouldBe(1);
        var today = usd.GetProperty("daily").EnumerateArray().Single();
        today.Str("date").ShouldBe(DateTime.UtcNow.ToString("yyyy-MM-dd"));
        today.GetProperty("grossCharged").GetInt64().ShouldBe(1500);
        var eur = mine.GetProperty("currencies").EnumerateArray().Single(c => c.Str("currency") == "EUR");
        eur.GetProperty("failuresByCode").GetProperty("insufficient_funds").GetInt64().ShouldBe(1);
        mine.GetProperty("merchants").ValueKind.ShouldBe(System.Text.Json.JsonValueKind.Null);

        var all = await (await app.Client(LedgerApp.Auditor).GetAsync("/v1/metrics")).Json();
        all.GetProperty("currencies").EnumerateArray().Single(c => c.Str("currency") == "USD").GetProperty("grossCharged").GetInt64().ShouldBe(1500 + 9999);
        all.GetProperty("merchants").EnumerateArray().Select(m => m.Str("merchantId")).ShouldBe(["acme", "globex"]);
    }
}

public sealed class BooksSpecs(LedgerApp app) : IClassFixture<LedgerApp>
{

    [Fact]
    public async Task The_books_balance_and_each_merchant_sees_only_its_accounts()
    {
        var acme = app.Client(LedgerApp.Acme);
        var id = (await (await acme.Charge(Requests.Charge(amount: 2000, currency: "JPY"))).Json()).Str("id");
        await acme.PostJson($"/v1/payments/{id}/refunds", new JsonObject { ["amount"] = 500 }, Requests.NewKey());
        await app.Client(LedgerApp.Globex).Charge(Requests.Charge(amount: 700, currency: "JPY"));

        var books = await (await app.Client(LedgerApp.Auditor).GetAsync("/v1/ledger/balances?currency=JPY")).Json();
        var accounts = books.GetProperty("data").EnumerateArray().ToDictionary(a => a.Str("account"), a => a.GetProperty("balance").GetInt64());
        accounts["gateway_clearing"].ShouldBe(2000 - 500 + 700);
        accounts["merchant:acme:available"].ShouldBe(-(2000 - 500));
        accounts["merchant:globex:available"].ShouldBe(-700);
        var totals = books.GetProperty("totals").EnumerateArray().Single();
        totals.GetProperty("balanced").GetBoolean().ShouldBeTrue();
        totals.GetProperty("debits").GetInt64().ShouldBe(totals.GetProperty("credits").GetInt64());

        var acmeBooks = await (await acme.GetAsync("/v1/ledger/balances?currency=JPY")).Json();
        acmeBooks.GetProperty("data").EnumerateArray().Select(a => a.Str("account")).ShouldBe(["merchant:acme:available"]);
        await IdempotencySpecs.ShouldBeProblem(await acme.GetAsync("/v1/ledger/balances?currency=jpy"), HttpStatusCode.BadRequest, "validation_failed");
    }
}
