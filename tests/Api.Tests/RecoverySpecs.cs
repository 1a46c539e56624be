using System.Net;
using Ledger.Domain.Payments;
using Ledger.EventStore;
using Ledger.Host;
using Ledger.Host.Http;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Shouldly;
using Xunit;

namespace Ledger.Api.Tests;

/// <summary>A request whose owner died between PaymentRequested and the outcome: finished by a retry or by the sweep.</summary>
public sealed class RecoverySpecs(LedgerApp app) : IClassFixture<LedgerApp>
{
    private readonly HttpClient _acme = app.Client(LedgerApp.Acme);

    [Fact]
    public async Task While_the_dead_owners_lease_runs_a_retry_is_told_the_key_is_in_use()
    {
        var (key, body, _) = await DeadOwner(gatewayCharged: true);

        var retry = await _acme.Charge(body, key);

        await IdempotencySpecs.ShouldBeProblem(retry, HttpStatusCode.Conflict, "idempotency_key_in_use");
    }

    [Fact]
    public async Task After_the_lease_a_retry_takes_over_and_records_the_charge_the_gateway_made_once()
    {
        var (key, body, paymentId) = await DeadOwner(gatewayCharged: true);
        app.Clock.Advance(TimeSpan.FromSeconds(31));

        var retry = await _acme.Charge(body, key);

        retry.StatusCode.ShouldBe(HttpStatusCode.Created);
        var payment = await retry.Json();
        (payment.Str("id"), payment.Str("status")).ShouldBe((paymentId, "succeeded"));
        (await app.Database.ScalarAsync<long>("select count(*) from gateway_simulator_charges where gateway_key = $1", paymentId)).ShouldBe(1);
        var again = await _acme.Charge(body, key);
        (await again.Content.ReadAsStringAsync()).ShouldBe(await retry.Content.ReadAsStringAsync());
        again.Headers.GetValues("Idempotent-Replayed").Single().ShouldBe("true");
    }

    [Fact]
    public async Task A_charge_that_never_reached_the_gateway_is_failed_and_its_key_fenced()
    {
        var (key, body, paymentId) = await DeadOwner(gatewayCharged: false);
        app.Clock.Advance(TimeSpan.FromSeconds(31));

        var payment = await (await _acme.Charge(body, key)).Json();

        (payment.Str("status"), payment.Str("failureCode")).ShouldBe(("failed", "processing_error"));
        (await app.Database.ScalarAsync<string>("select outcome from gateway_simulator_charges where gateway_key = $1", paymentId)).ShouldBe("abandoned");
    }

    [Fact]
    public async Task The_sweep_resolves_a_stale_pending_payment_and_stores_the_final_answer_for_its_key()
    {
        var (key, body, paymentId) = await DeadOwner(gatewayCharged: true);
        app.Clock.Advance(TimeSpan.FromMinutes(2));

        (await app.Sweep()).ShouldBeGreaterThanOrEqualTo(1);

        var read = await (await _acme.GetAsync($"/v1/payments/{paymentId}")).Json();
        read.Str("status").ShouldBe("succeeded");
        var retry = await _acme.Charge(body, key);
        retry.Headers.GetValues("Idempotent-Replayed").Single().ShouldBe("true");
        (await retry.Json()).Str("status").ShouldBe("succeeded");
        var sweptMetadata = await app.Database.ScalarAsync<string>("select metadata->>'actor' from ledger.events where stream_id = $1 and version = 2", paymentId);
        sweptMetadata.ShouldBe("system:sweep");
        (await app.Database.ScalarAsync<long>("select count(*) from gateway_simulator_charges where gateway_key = $1", paymentId)).ShouldBe(1);
    }

    /// <summary>What a crash right after step one leaves: PaymentRequested and an in-flight key, nothing else.</summary>
    private async Task<(string Key, System.Text.Json.Nodes.JsonObject Body, string PaymentId)> DeadOwner(bool gatewayCharged)
    {
        var key = Requests.NewKey();
        var body = Requests.Charge(orderId: $"dead-{Guid.NewGuid():N}"[..20]);
        var services = app.Services;
        var store = services.GetRequiredService<EventLog<PaymentEvent>>();
        var idempotency = services.GetRequiredService<Idempotency>();
        var secrets = services.GetRequiredService<Secrets>();
        var now = app.Clock.Now();
        var paymentId = $"pay_{Guid.NewGuid():N}";
        var http = new DefaultHttpContext();
        http.Request.Method = "POST";
        http.Request.Path = "/v1/payments";
        var fingerprint = idempotency.Fingerprint(http.Request, System.Text.Encoding.UTF8.GetBytes(body.ToJsonString()));
        var card = new CardSnapshot("visa", "4242", 12, 2030, secrets.CardFingerprint(Requests.GoodCard));
        var events = PaymentDecider.Decide(new PaymentCommand.RequestPayment(
            paymentId, "acme", body["orderId"]!.GetValue<string>(), 1250, "USD", card, "2 coffees", new Dictionary<string, string> { ["table"] = "7" }, now), null);
        var scope = new IdempotencyScope("acme", "POST /v1/payments", key);
        await store.AppendAsync(paymentId, 0, events, new EventMetadata("corr", "test", key, "merchant:acme"),
            commands => commands.Add(idempotency.Claim(scope, fingerprint, paymentId, now)));
        if (gatewayCharged)
            await app.Database.ExecuteAsync("""
                with claimed as (insert into gateway_simulator_keys (gateway_key) values ($1))
                insert into gateway_simulator_charges (gateway_key, merchant_id, amount, currency, outcome, reference) values ($1, 'acme', 1250, 'USD', 'approved', 'ch_dead')
                """, paymentId);
        return (key, body, paymentId);
    }
}
