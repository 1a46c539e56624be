using System.Net;
using System.Text.Json.Nodes;
using Shouldly;
using Xunit;

namespace Ledger.Api.Tests;

public sealed class AuditingSpecs(LedgerApp app) : IClassFixture<LedgerApp>
{
    private readonly HttpClient _acme = app.Client(LedgerApp.Acme);
    private readonly HttpClient _auditor = app.Client(LedgerApp.Auditor);

    private async Task<string> ChargedAndRefunded()
    {
        var id = (await (await _acme.Charge(Requests.Charge(amount: 1000))).Json()).Str("id");
        await _acme.PostJson($"/v1/payments/{id}/refunds", new JsonObject { ["amount"] = 400 }, Requests.NewKey());
        return id;
    }

    [Fact]
    public async Task A_payments_events_come_oldest_first_with_metadata_and_a_hash_chain()
    {
        var id = await ChargedAndRefunded();

        var stream = await (await _auditor.GetAsync($"/v1/payments/{id}/events")).Json();

        (stream.Str("streamId"), stream.GetProperty("version").GetInt64()).ShouldBe((id, 3L));
        var events = stream.GetProperty("events").EnumerateArray().ToList();
        events.Select(e => e.Str("type")).ShouldBe(["payment_requested", "payment_charged", "payment_refunded"]);
        events.Select(e => e.GetProperty("version").GetInt64()).ShouldBe([1L, 2L, 3L]);
        events.Select(e => e.GetProperty("sequence").GetInt64()).ShouldBe(events.Select(e => e.GetProperty("sequence").GetInt64()).Order());
        events[0].GetProperty("previousHash").ValueKind.ShouldBe(System.Text.Json.JsonValueKind.Null);
        events[1].Str("previousHash").ShouldBe(events[0].Str("hash"));
        events[2].Str("previousHash").ShouldBe(events[1].Str("hash"));
        events[0].Str("hash").Length.ShouldBe(64);
        events[2].GetProperty("data").GetProperty("amount").GetInt64().ShouldBe(400);
        events[0].GetProperty("metadata").Str("actor").ShouldBe("merchant:acme");
        events[0].GetProperty("metadata").Str("idempotencyKey").ShouldNotBeNullOrEmpty();
        events[0].Str("occurredAt").ShouldEndWith("Z");
    }

    [Fact]
    public async Task History_folds_the_payment_as_it_was_at_each_version()
    {
        var id = await ChargedAndRefunded();

        var v1 = await (await _acme.GetAsync($"/v1/payments/{id}/history?atVersion=1")).Json();
        var v2 = await (await _acme.GetAsync($"/v1/payments/{id}/history?atVersion=2")).Json();
        var v3 = await (await _acme.GetAsync($"/v1/payments/{id}/history?atVersion=3")).Json();
        var beyond = await (await _acme.GetAsync($"/v1/payments/{id}/history?atVersion=99")).Json();

        (v1.Str("status"), v1.GetProperty("version").GetInt64()).ShouldBe(("pending", 1L));
        (v2.Str("status"), v2.GetProperty("amountRefundable").GetInt64()).ShouldBe(("succeeded", 1000L));
        (v3.Str("status"), v3.GetProperty("amountRefunded").GetInt64()).ShouldBe(("partially_refunded", 400L));
        beyond.GetRawText().ShouldBe(v3.GetRawText());
    }

    [Fact]
    public async Task History_folds_the_payment_as_it_was_at_a_moment()
    {
        var id = await ChargedAndRefunded();
        var events = (await (await _auditor.GetAsync($"/v1/payments/{id}/events")).Json()).GetProperty("events").EnumerateArray().ToList();
        var charged = events[1].GetProperty("occurredAt").GetDateTimeOffset();
        var refunded = events[2].GetProperty("occurredAt").GetDateTimeOffset();
        var between = charged + (refunded - charged) / 2;
        string At(DateTimeOffset t) => Uri.EscapeDataString(t.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ss.ffffffZ"));

        var atCharge = await (await _acme.GetAsync($"/v1/payments/{id}/history?at={At(charged)}")).Json();
        var afterRefund = await (await _acme.GetAsync($"/v1/payments/{id}/history?at={At(refunded.AddSeconds(1))}")).Json();
        var before = await _acme.GetAsync($"/v1/payments/{id}/history?at={At(events[0].GetProperty("occurredAt").GetDateTimeOffset().AddSeconds(-1))}");

        (atCharge.Str("status"), atCharge.GetProperty("version").GetInt64()).ShouldBe(("succeeded", 2L));
        (await (await _acme.GetAsync($"/v1/payments/{id}/history?at={At(between)}")).Json()).Str("status").ShouldBe("succeeded");
        afterRefund.Str("status").ShouldBe("partially_refunded");
        await IdempotencySpecs.ShouldBeProblem(before, HttpStatusCode.NotFound, "payment_not_found");
    }

    [Theory]
    [InlineData("?atVersion=0", "atVersion")]
    [InlineData("?atVersion=two", "atVersion")]
    [InlineData("?at=noon", "at")]
    [InlineData("?atVersion=1&at=2026-01-01T00:00:00Z", "at")]
    public async Task Malformed_history_queries_are_400(string query, string parameter)
    {
        var id = await ChargedAndRefunded();
        var response = await _acme.GetAsync($"/v1/payments/{id}/history{query}");
        await IdempotencySpecs.ShouldBeProblem(response, HttpStatusCode.BadRequest, "validation_failed");
        (await response.Json()).GetProperty("errors").TryGetProperty(parameter, out _).ShouldBeTrue();
    }

    [Fact]
    public async Task Another_merchant_sees_neither_the_events_nor_the_history()
    {
        var id = await ChargedAndRefunded();
        var globex = app.Client(LedgerApp.Globex);

        await IdempotencySpecs.ShouldBeProblem(await globex.GetAsync($"/v1/payments/{id}/events"), HttpStatusCode.NotFound, "payment_not_found");
        await IdempotencySpecs.ShouldBeProblem(await globex.GetAsync($"/v1/payments/{id}/history?atVersion=1"), HttpStatusCode.NotFound, "payment_not_found");
    }

    [Fact]
    public async Task The_global_log_is_for_auditors_and_pages_without_gaps_or_repeats()
    {
        await ChargedAndRefunded();
        await ChargedAndRefunded();
        await IdempotencySpecs.ShouldBeProblem(await _acme.GetAsync("/v1/events"), HttpStatusCode.Forbidden, "forbidden");

        // The feed stops at the oldest transaction in flight anywhere in the cluster (other test classes write in
        // parallel), so it may be late: follow it until it has delivered the whole log, with a deadline.
        var total = await app.Database.ScalarAsync<long>("select count(*) from ledger.events");
        var seen = new List<long>();
        long after = 0;
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (seen.Count < total && DateTime.UtcNow < deadline)
        {
            var page = await (await _auditor.GetAsync($"/v1/events?after={after}&limit=2")).Json();
            var data = page.GetProperty("data").EnumerateArray().ToList();
            data.Count.ShouldBeLessThanOrEqualTo(2);
            seen.AddRange(data.Select(e => e.GetProperty("sequence").GetInt64()));
            after = page.GetProperty("nextAfter").GetInt64();
            if (data.Count == 0) await Task.Delay(20);
        }

        seen.ShouldBeUnique();
        seen.Count.ShouldBe((int)total);
        await IdempotencySpecs.ShouldBeProblem(await _auditor.GetAsync("/v1/events?limit=0"), HttpStatusCode.BadRequest, "validation_failed");
        await IdempotencySpecs.ShouldBeProblem(await _auditor.GetAsync("/v1/events?after=-1"), HttpStatusCode.BadRequest, "validation_failed");
    }
}
