using System.Net;
using System.Text.Json.Nodes;
using Shouldly;
using Xunit;

namespace Ledger.Api.Tests;

public sealed class RefundSpecs(LedgerApp app) : IClassFixture<LedgerApp>
{
    private readonly HttpClient _acme = app.Client(LedgerApp.Acme);

    private async Task<string> Charged(long amount = 1250, string card = Requests.GoodCard) =>
        (await (await _acme.Charge(Requests.Charge(amount: amount, card: card))).Json()).Str("id");

    private Task<HttpResponseMessage> Refund(string paymentId, JsonObject? body = null, string? key = null, HttpClient? client = null) =>
        (client ?? _acme).PostJson($"/v1/payments/{paymentId}/refunds", body ?? [], key ?? Requests.NewKey());

    [Fact]
    public async Task A_refund_without_an_amount_refunds_everything_and_answers_the_refund_and_the_payment()
    {
        var id = await Charged(1250);

        var response = await Refund(id, new JsonObject { ["reason"] = "duplicate", ["metadata"] = new JsonObject { ["ticket"] = "T-9" } });

        response.StatusCode.ShouldBe(HttpStatusCode.Created);
        var body = await response.Json();
        var refund = body.GetProperty("refund");
        refund.Str("id").ShouldStartWith("re_");
        (refund.Str("paymentId"), refund.GetProperty("amount").GetInt64(), refund.Str("reason")).ShouldBe((id, 1250L, "duplicate"));
        refund.Str("receiptNumber").ShouldStartWith("ACME-");
        var payment = body.GetProperty("payment");
        (payment.Str("status"), payment.GetProperty("amountRefunded").GetInt64(), payment.GetProperty("amountRefundable").GetInt64())
            .ShouldBe(("refunded", 1250L, 0L));
        (await app.Database.ScalarAsync<string>("select type from ledger.events where stream_id = $1 and version = 3", id)).ShouldBe("payment_refunded");
    }

    [Theory]
    [InlineData("duplicate")]
    [InlineData("fraudulent")]
    [InlineData("requested_by_customer")]
    public async Task Each_documented_reason_is_accepted_and_kept(string reason)
    {
        var id = await Charged(500);

        var response = await Refund(id, new JsonObject { ["amount"] = 100, ["reason"] = reason });

        response.StatusCode.ShouldBe(HttpStatusCode.Created);
        (await response.Json()).GetProperty("refund").Str("reason").ShouldBe(reason);
        (await app.Database.ScalarAsync<string>("select data->>'reason' from ledger.events where stream_id = $1 and version = 3", id)).ShouldBe(reason);
    }

    [Fact]
    public async Task The_refund_event_keeps_its_reason_metadata_and_who_asked_and_why()
    {
        var id = await Charged(800);
        var key = Requests.NewKey();
        using var request = new HttpRequestMessage(HttpMethod.Post, $"/v1/payments/{id}/refunds")
        {
            Content = new StringContent("""{"amount":300,"metadata":{"ticket":"T-9"}}""", System.Text.Encoding.UTF8, "application/json"),
        };
        request.Headers.Add("Idempotency-Key", key);
        request.Headers.Add("X-Correlation-Id", "corr-refund-1");

        (await _acme.SendAsync(request)).StatusCode.ShouldBe(HttpStatusCode.Created);
        var bare = await Refund(id, new JsonObject { ["amount"] = 100 });
        bare.StatusCode.ShouldBe(HttpStatusCode.Created);

        var stored = await app.Database.ScalarAsync<string>(
            "select json_build_object('data', data, 'metadata', metadata)::text from ledger.events where stream_id = $1 and version = 3", id);
        var e = System.Text.Json.JsonDocument.Parse(stored).RootElement;
        e.GetProperty("data").Str("reason").ShouldBe("requested_by_customer"); // the default
        e.GetProperty("data").GetProperty("metadata").GetProperty("ticket").GetString().ShouldBe("T-9");
        var metadata = e.GetProperty("metadata");
        (metadata.Str("correlationId"), metadata.Str("idempotencyKey"), metadata.Str("actor")).ShouldBe(("corr-refund-1", key, "merchant:acme"));
        metadata.Str("causationId").ShouldStartWith("request:");
        (await app.Database.ScalarAsync<string>("select (data->'metadata')::text from ledger.events where stream_id = $1 and version = 4", id)).ShouldBe("{}");
    }

    [Fact]
    public async Task Partial_refunds_add_up_to_the_charge_and_then_the_payment_is_refunded()
    {
        var id = await Charged(1000);

        var first = await (await Refund(id, new JsonObject { ["amount"] = 300 })).Json();
        var second = await (await Refund(id, new JsonObject { ["amount"] = 700 })).Json();

        first.GetProperty("payment").Str("status").ShouldBe("partially_refunded");
        first.GetProperty("payment").GetProperty("amountRefundable").GetInt64().ShouldBe(700);
        second.GetProperty("payment").Str("status").ShouldBe("refunded");
        var read = await (await _acme.GetAsync($"/v1/payments/{id}")).Json();
        (read.Str("status"), read.GetProperty("amountRefunded").GetInt64(), read.GetProperty("version").GetInt64()).ShouldBe(("refunded", 1000L, 4L));
        var list = (await (await _acme.GetAsync($"/v1/payments/{id}/refunds")).Json()).GetProperty("data");
        list.EnumerateArray().Select(r => r.GetProperty("amount").GetInt64()).ShouldBe([300L, 700L]);
        list[0].Str("id").ShouldBe(first.GetProperty("refund").Str("id"));
    }

    [Fact]
    public async Task A_refund_beyond_what_remains_is_422_and_changes_nothing()
    {
        var id = await Charged(1000);
        await Refund(id, new JsonObject { ["amount"] = 600 });

        var response = await Refund(id, new JsonObject { ["amount"] = 401 });

        await IdempotencySpecs.ShouldBeProblem(response, HttpStatusCode.UnprocessableEntity, "refund_exceeds_remaining");
        (await app.Database.ScalarAsync<long>("select version from ledger.streams where stream_id = $1", id)).ShouldBe(3);
    }

    [Fact]
    public async Task A_declined_or_fully_refunded_payment_is_not_refundable()
    {
        var declined = await Charged(card: "4000000000000002");
        var refunded = await Charged();
        await Refund(refunded);

        await IdempotencySpecs.ShouldBeProblem(await Refund(declined), HttpStatusCode.Conflict, "payment_not_refundable");
        await IdempotencySpecs.ShouldBeProblem(await Refund(refunded), HttpStatusCode.Conflict, "payment_not_refundable");
    }

    [Fact]
    public async Task A_refund_of_an_unknown_or_another_merchants_payment_is_404()
    {
        var id = await Charged();

        await IdempotencySpecs.ShouldBeProblem(await Refund("pay_nope"), HttpStatusCode.NotFound, "payment_not_found");
        await IdempotencySpecs.ShouldBeProblem(await Refund(id, client: app.Client(LedgerApp.Globex)), HttpStatusCode.NotFound, "payment_not_found");
        await IdempotencySpecs.ShouldBeProblem(await app.Client(LedgerApp.Globex).GetAsync($"/v1/payments/{id}/refunds"), HttpStatusCode.NotFound, "payment_not_found");
    }

    [Fact]
    public async Task The_auditor_cannot_refund()
    {
        var id = await Charged();
        await IdempotencySpecs.ShouldBeProblem(await Refund(id, client: app.Client(LedgerApp.Auditor)), HttpStatusCode.Forbidden, "forbidden");
    }

    [Theory]
    [InlineData("""{"amount":0}""")]
    [InlineData("""{"amount":-1}""")]
    [InlineData("""{"reason":"changed_my_mind"}""")]
    [InlineData("""{"amount":"100"}""")]
    [InlineData("""{"refundAll":true}""")]
    public async Task Invalid_refund_requests_are_400(string json)
    {
        var id = await Charged();
        var response = await _acme.PostRaw($"/v1/payments/{id}/refunds", json, Requests.NewKey());
        await IdempotencySpecs.ShouldBeProblem(response, HttpStatusCode.BadRequest, "validation_failed");
    }

    [Fact]
    public async Task A_refund_needs_an_Idempotency_Key()
    {
        var id = await Charged();
        var response = await _acme.PostRaw($"/v1/payments/{id}/refunds", "{}");
        await IdempotencySpecs.ShouldBeProblem(response, HttpStatusCode.BadRequest, "idempotency_key_missing");
    }

    [Fact]
    public async Task Replaying_a_refund_refunds_once_and_answers_the_same()
    {
        var id = await Charged(1000);
        var key = Requests.NewKey();
        var first = await Refund(id, new JsonObject { ["amount"] = 100 }, key);
        var replay = await Refund(id, new JsonObject { ["amount"] = 100 }, key);

        replay.StatusCode.ShouldBe(HttpStatusCode.Created);
        replay.Headers.GetValues("Idempotent-Replayed").Single().ShouldBe("true");
        (await replay.Content.ReadAsStringAsync()).ShouldBe(await first.Content.ReadAsStringAsync());
        (await app.Database.ScalarAsync<long>("select count(*) from ledger.events where stream_id = $1 and type = 'payment_refunded'", id)).ShouldBe(1);

        var reused = await Refund(id, new JsonObject { ["amount"] = 200 }, key);
        await IdempotencySpecs.ShouldBeProblem(reused, HttpStatusCode.UnprocessableEntity, "idempotency_key_reused");
    }

    [Fact]
    public async Task A_refund_key_counts_as_new_once_its_retention_has_passed()
    {
        var id = await Charged(1000);
        var key = Requests.NewKey();
        await Refund(id, new JsonObject { ["amount"] = 100 }, key);

        app.Clock.Advance(TimeSpan.FromHours(25));
        var later = await Refund(id, new JsonObject { ["amount"] = 200 }, key);

        later.StatusCode.ShouldBe(HttpStatusCode.Created);
        later.Headers.Contains("Idempotent-Replayed").ShouldBeFalse();
        (await later.Json()).GetProperty("payment").GetProperty("amountRefunded").GetInt64().ShouldBe(300);
    }

    [Fact]
    public async Task A_refused_refund_is_remembered_under_its_key()
    {
        var id = await Charged(500);
        var key = Requests.NewKey();
        var first = await Refund(id, new JsonObject { ["amount"] = 501 }, key);

        var replay = await Refund(id, new JsonObject { ["amount"] = 501 }, key);

        await IdempotencySpecs.ShouldBeProblem(replay, HttpStatusCode.UnprocessableEntity, "refund_exceeds_remaining");
        replay.Headers.GetValues("Idempotent-Replayed").Single().ShouldBe("true");
        (await replay.Content.ReadAsStringAsync()).ShouldBe(await first.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Twenty_concurrent_refunds_never_refund_more_than_was_charged()
    {
        var id = await Charged(1250);

        var responses = await Task.WhenAll(Enumerable.Range(0, 20).Select(async _ =>
        {
            var r = await Refund(id, new JsonObject { ["amount"] = 100 });
            return (r.StatusCode, Body: await r.Json(), Type: r.Content.Headers.ContentType!.MediaType);
        }));

        var created = responses.Where(r => r.StatusCode == HttpStatusCode.Created).ToList();
        created.Count.ShouldBe(12); // 12 x 100 fit in 1250; the 13th would not
        responses.Where(r => r.StatusCode != HttpStatusCode.Created).ShouldAllBe(r =>
            (r.StatusCode == HttpStatusCode.UnprocessableEntity || r.StatusCode == HttpStatusCode.Conflict) && r.Type == "application/problem+json");
        var refunded = await app.Database.ScalarAsync<long>(
            "select coalesce(sum((data->>'amount')::bigint), 0)::bigint from ledger.events where stream_id = $1 and type = 'payment_refunded'", id);
        refunded.ShouldBe(1200);
        var read = await (await _acme.GetAsync($"/v1/payments/{id}")).Json();
        (read.GetProperty("amountRefunded").GetInt64(), read.GetProperty("amountRefundable").GetInt64()).ShouldBe((1200L, 50L));
    }
}
