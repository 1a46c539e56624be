using System.Text.Json;
using Alba;
using Shouldly;
using Xunit;

namespace Ledger.Api.Tests;

/// <summary>The charge's contract as Alba scenarios: what a merchant sends, what it gets back, what was stored.</summary>
public sealed class PaymentScenarios(LedgerApp app) : IClassFixture<LedgerApp>
{
    [Fact]
    public async Task A_charge_is_201_with_its_Location_and_the_payment_it_created()
    {
        var key = Requests.NewKey();

        var charged = await app.Scenario(LedgerApp.Acme, s =>
        {
            s.Post.RawJson(Requests.Charge(amount: 4200, currency: "EUR", orderId: "scenario-1").ToJsonString()).ToUrl("/v1/payments");
            s.WithRequestHeader("Idempotency-Key", key);
            s.StatusCodeShouldBe(201);
            s.ContentTypeShouldBe("application/json");
        });

        var payment = JsonDocument.Parse(await charged.ReadAsTextAsync()).RootElement;
        var id = payment.Str("id");
        (payment.Str("status"), payment.GetProperty("amount").GetInt64(), payment.Str("currency")).ShouldBe(("succeeded", 4200L, "EUR"));
        charged.Context.Response.Headers.Location.ToString().ShouldBe($"/v1/payments/{id}");
        (await app.Database.ScalarAsync<long>("select count(*) from ledger.events where stream_id = $1", id)).ShouldBe(2);
        (await app.Database.ScalarAsync<string>("select status from payment_views where id = $1", id)).ShouldBe("succeeded");
    }

    [Fact]
    public async Task A_retry_with_the_same_key_replays_the_first_answer_byte_for_byte_and_charges_nothing_more()
    {
        var key = Requests.NewKey();
        var body = Requests.Charge(orderId: "scenario-2").ToJsonString();
        void Charge(Scenario s)
        {
            s.Post.RawJson(body).ToUrl("/v1/payments");
            s.WithRequestHeader("Idempotency-Key", key);
            s.StatusCodeShouldBe(201);
        }

        var first = await app.Scenario(LedgerApp.Acme, Charge);
        var replay = await app.Scenario(LedgerApp.Acme, s =>
        {
            Charge(s);
            s.Header("Idempotent-Replayed").SingleValueShouldEqual("true");
        });

        var text = await first.ReadAsTextAsync();
        (await replay.ReadAsTextAsync()).ShouldBe(text);
        var id = JsonDocument.Parse(text).RootElement.Str("id");
        (await app.Database.ScalarAsync<long>("select count(*) from gateway_simulator_charges where gateway_key like $1 || '%'", id)).ShouldBe(1);
        (await app.Database.ScalarAsync<long>("select count(*) from payment_views where order_id = 'scenario-2'")).ShouldBe(1);
    }

    [Fact]
    public async Task Another_merchants_payment_is_a_404_problem_as_if_it_did_not_exist()
    {
        var acme = await app.Scenario(LedgerApp.Acme, s =>
        {
            s.Post.RawJson(Requests.Charge(orderId: "scenario-3").ToJsonString()).ToUrl("/v1/payments");
            s.WithRequestHeader("Idempotency-Key", Requests.NewKey());
            s.StatusCodeShouldBe(201);
        });
        var id = JsonDocument.Parse(await acme.ReadAsTextAsync()).RootElement.Str("id");

        var seen = await app.Scenario(LedgerApp.Globex, s =>
        {
            s.Get.Url($"/v1/payments/{id}");
            s.StatusCodeShouldBe(404);
            s.ContentTypeShouldBe("application/problem+json");
        });

        JsonDocument.Parse(await seen.ReadAsTextAsync()).RootElement.Str("code").ShouldBe("payment_not_found");
        await app.Scenario(LedgerApp.Auditor, s => s.Get.Url($"/v1/payments/{id}"));
    }
}
