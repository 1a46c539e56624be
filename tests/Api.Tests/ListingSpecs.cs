using Ledger.Host.Payments;
using System.Net;
using Shouldly;
using Xunit;

namespace Ledger.Api.Tests;

/// <summary>Seven globex payments (oldest first): five USD with orders o-0..o-4, one EUR, one declined; and one of acme's.</summary>
public sealed class SeededListingApp : LedgerApp
{
    public List<string> GlobexIds { get; } = [];

    public override async ValueTask InitializeAsync()
    {
        await base.InitializeAsync();
        var globex = Client(Globex);
        for (var i = 0; i < 5; i++) GlobexIds.Add((await (await globex.Charge(Requests.Charge(orderId: $"o-{i}"))).Json()).Str("id"));
        GlobexIds.Add((await (await globex.Charge(Requests.Charge(currency: "EUR", orderId: "o-eur"))).Json()).Str("id"));
        GlobexIds.Add((await (await globex.Charge(Requests.Charge(card: "4000000000000002", orderId: "o-declined"))).Json()).Str("id"));
        await Client(Acme).Charge();
    }
}

public sealed class ListingSpecs(SeededListingApp app) : IClassFixture<SeededListingApp>
{
    private readonly HttpClient _globex = app.Client(LedgerApp.Globex);
    private List<string> Ids => app.GlobexIds;

    private async Task<(List<string> Ids, bool HasMore)> List(string query, HttpClient? client = null)
    {
        var response = await (client ?? _globex).GetAsync($"/v1/payments{query}");
        response.StatusCode.ShouldBe(HttpStatusCode.OK);
        var body = await response.Json();
        return (body.GetProperty("data").EnumerateArray().Select(p => p.Str("id")).ToList(), body.GetProperty("hasMore").GetBoolean());
    }

    [Fact]
    public async Task A_merchant_lists_its_own_payments_newest_first_ten_by_default()
    {
        var (ids, hasMore) = await List("");

        ids.ShouldBe(Enumerable.Reverse(Ids).ToList());
        hasMore.ShouldBeFalse();
    }

    [Fact]
    public async Task Pages_follow_the_cursor_without_overlap_or_gaps()
    {
        var first = await List("?limit=3");
        var second = await List($"?limit=3&startingAfter={first.Ids[^1]}");
        var third = await List($"?limit=3&startingAfter={second.Ids[^1]}");

        (first.HasMore, second.HasMore, third.HasMore).ShouldBe((true, true, false));
        first.Ids.Concat(second.Ids).Concat(third.Ids).ShouldBe(Enumerable.Reverse(Ids).ToList());
    }

    [Fact]
    public async Task Filters_narrow_the_list()
    {
        (await List("?status=failed")).Ids.ShouldBe([Ids[6]]);
        (await List("?currency=EUR")).Ids.ShouldBe([Ids[5]]);
        (await List("?orderId=o-2")).Ids.ShouldBe([Ids[2]]);
        (await List("?status=succeeded&currency=USD")).Ids.Count.ShouldBe(5);
        var third = await (await _globex.GetAsync($"/v1/payments/{Ids[2]}")).Json();
        var fifth = await (await _globex.GetAsync($"/v1/payments/{Ids[4]}")).Json();
        (await List($"?createdFrom={third.Str("createdAt")}&createdTo={fifth.Str("createdAt")}")).Ids.ShouldBe([Ids[4], Ids[3], Ids[2]]);
    }

    [Fact]
    public async Task The_auditor_lists_every_merchant()
    {
        var (ids, _) = await List("?limit=100", app.Client(LedgerApp.Auditor));
        ids.Count.ShouldBe(8);
    }

    [Theory]
    [InlineData("?status=pendingish", "status")]
    [InlineData("?limit=0", "limit")]
    [InlineData("?limit=101", "limit")]
    [InlineData("?limit=ten", "limit")]
    [InlineData("?createdFrom=yesterday", "createdFrom")]
    [InlineData("?createdTo=2026-13-01T00:00:00Z", "createdTo")]
    [InlineData("?createdFrom=2026-11-01", "createdFrom")]
    [InlineData("?startingAfter=pay_unknown", "startingAfter")]
    [InlineData("?currency=ABC", "currency")]
    [InlineData("?orderId=x%27%20or%201%3D1--&status=bogus", "status")]
    public async Task A_malformed_query_is_400_naming_the_parameter(string query, string parameter)
    {
        var response = await _globex.GetAsync($"/v1/payments{query}");

        await IdempotencySpecs.ShouldBeProblem(response, HttpStatusCode.BadRequest, "validation_failed");
        (await response.Json()).GetProperty("errors").TryGetProperty(parameter, out _).ShouldBeTrue();
    }

    [Fact]
    public async Task Another_merchants_payment_is_not_a_cursor()
    {
        var acmeId = (await List("?limit=1", app.Client(LedgerApp.Acme))).Ids.Single();
        var response = await _globex.GetAsync($"/v1/payments?startingAfter={acmeId}");
        await IdempotencySpecs.ShouldBeProblem(response, HttpStatusCode.BadRequest, "validation_failed");
    }
}

/// <summary>The listing's plans at a realistic size, checked with EXPLAIN rather than hoped for.</summary>
public sealed class ListingPlanSpecs(LedgerApp app) : IClassFixture<LedgerApp>
{
    [Fact]
    public async Task Listing_a_merchants_newest_payments_walks_an_index_not_the_table()
    {
        await app.Database.ExecuteAsync("""
            insert into payment_views (id, merchant_id, order_id, amount, currency, status, card_brand, card_last4, card_exp_month,
                card_exp_year, card_fingerprint, metadata, created_at, updated_at, version)
            select 'pay_' || g, 'm' || (g % 200), 'o-' || g, 100, 'USD', 'succeeded', 'visa', '4242', 12, 2030, 'fp', '{}',
                   now() - g * interval '1 second', now(), 2
            from generate_series(1, 200000) g;
            analyze payment_views;
            """);

        // The statements the endpoint sends, built by the endpoint's own code: a merchant's first page, its next page,
        // the auditor's first page, and a look-up by order id.
        var cursor = new PaymentCursor(DateTime.UtcNow.AddHours(-1), "pay_x");
        foreach (var filter in new[]
        {
            new PaymentFilter("m7", null, null, null, null, null, null, 11),
            new PaymentFilter("m7", null, null, null, null, null, cursor, 11),
            new PaymentFilter(null, null, null, null, null, null, null, 11),
            new PaymentFilter("m7", null, "o-7", null, null, null, null, 11),
            new PaymentFilter("m7", "succeeded", null, "USD", DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow, cursor, 11),
        })
        {
            await using var ds = app.Database.CreateDataSource();
            await using var cmd = ListPayments.Command(ds, filter);
            var plan = await Explain(cmd);
            plan.ShouldContain("Index", customMessage: $"{filter}\n{cmd.CommandText}\n{plan}");
            plan.ShouldNotContain("Seq Scan", customMessage: $"{filter}\n{cmd.CommandText}\n{plan}");
        }
    }

    private static async Task<string> Explain(Npgsql.NpgsqlCommand listing)
    {
        listing.CommandText = $"explain (format text) {listing.CommandText}";
        await using var reader = await listing.ExecuteReaderAsync();
        var lines = new List<string>();
        while (await reader.ReadAsync()) lines.Add(reader.GetString(0));
        return string.Join('\n', lines);
    }
}
