using System.Net;
using System.Text.Json;
using Ledger.Host.Gateway;
using Shouldly;
using Xunit;

namespace Ledger.Api.Tests;

public sealed class ChargingSpecs(LedgerApp app) : IClassFixture<LedgerApp>
{
    private readonly HttpClient _acme = app.Client(LedgerApp.Acme);

    [Fact]
    public async Task A_good_card_is_charged_and_answered_with_201_the_payment_and_its_location()
    {
        var response = await _acme.Charge(Requests.Charge(amount: 1250, currency: "USD"));

        response.StatusCode.ShouldBe(HttpStatusCode.Created);
        var payment = await response.Json();
        var id = payment.Str("id");
        response.Headers.Location!.ToString().ShouldBe($"/v1/payments/{id}");
        payment.Str("status").ShouldBe("succeeded");
        payment.Str("merchantId").ShouldBe("acme");
        payment.Str("orderId").ShouldBe("order-1001");
        payment.GetProperty("amount").GetInt64().ShouldBe(1250);
        payment.Str("currency").ShouldBe("USD");
        payment.GetProperty("amountRefunded").GetInt64().ShouldBe(0);
        payment.GetProperty("amountRefundable").GetInt64().ShouldBe(1250);
        payment.GetProperty("failureCode").ValueKind.ShouldBe(JsonValueKind.Null);
        payment.GetProperty("version").GetInt64().ShouldBe(2);
        payment.GetProperty("metadata").GetProperty("table").GetString().ShouldBe("7");
        var card = payment.GetProperty("card");
        (card.Str("brand"), card.Str("last4"), card.GetProperty("expMonth").GetInt32(), card.GetProperty("expYear").GetInt32())
            .ShouldBe(("visa", "4242", 12, 2030));
        card.Str("fingerprint").ShouldStartWith("fp_");
        payment.Str("createdAt").ShouldEndWith("Z");

        var types = await EventTypes(id);
        types.ShouldBe(["payment_requested", "payment_charged"]);
        (await app.Database.ScalarAsync<long>("select count(*) from gateway_simulator_charges where gateway_key = $1 and outcome = 'approved'", id)).ShouldBe(1);
    }

    [Theory]
    [InlineData("4000000000000002", "card_declined")]
    [InlineData("4000000000009995", "insufficient_funds")]
    [InlineData("4000000000000069", "expired_card")]
    [InlineData("4000000000000127", "incorrect_cvc")]
    [InlineData("4000000000000119", "processing_error")]
    public async Task A_decline_is_a_201_with_a_failed_payment_and_its_code(string card, string code)
    {
        var response = await _acme.Charge(Requests.Charge(card: card));

        response.StatusCode.ShouldBe(HttpStatusCode.Created);
        var payment = await response.Json();
        payment.Str("status").ShouldBe("failed");
        payment.Str("failureCode").ShouldBe(code);
        payment.Str("failureMessage").ShouldNotBeNullOrWhiteSpace();
        payment.GetProperty("amountRefundable").GetInt64().ShouldBe(0);
        (await EventTypes(payment.Str("id"))).ShouldBe(["payment_requested", "payment_failed"]);
        (await app.Database.ScalarAsync<long>("select count(*) from gateway_simulator_charges where gateway_key = $1 and outcome = 'approved'",
            payment.Str("id"))).ShouldBe(0);
    }

    [Fact]
    public async Task A_gateway_error_that_clears_on_a_retry_is_retried_into_one_charge_and_a_succeeded_payment()
    {
        var response = await _acme.Charge(Requests.Charge(card: SimulatedGateway.FlakyCard));

        response.StatusCode.ShouldBe(HttpStatusCode.Created);
        var payment = await response.Json();
        payment.Str("status").ShouldBe("succeeded");
        payment.GetProperty("failureCode").ValueKind.ShouldBe(JsonValueKind.Null);
        (await EventTypes(payment.Str("id"))).ShouldBe(["payment_requested", "payment_charged"]);
        // The gateway saw every attempt: the refused ones, then exactly one charge.
        (await app.Database.ScalarAsync<string>(
            "select string_agg(outcome, ',' order by id) from gateway_simulator_charges where gateway_key = $1", payment.Str("id")))
            .ShouldBe(string.Join(',', [.. Enumerable.Repeat("transient", SimulatedGateway.FlakyFailures), "approved"]));
    }

    [Fact]
    public async Task A_payment_reads_back_from_the_read_model_as_it_was_answered()
    {
        var created = await (await _acme.Charge()).Json();

        var response = await _acme.GetAsync($"/v1/payments/{created.Str("id")}");

        response.StatusCode.ShouldBe(HttpStatusCode.OK);
        var read = await response.Json();
        read.GetRawText().ShouldBe(created.GetRawText());
    }

    [Fact]
    public async Task Currencies_keep_their_own_minor_units()
    {
        foreach (var (currency, amount) in new[] { ("JPY", 1250L), ("KWD", 1250L), ("EUR", 1L), ("USD", 1_000_000_000_000L) })
        {
            var payment = await (await _acme.Charge(Requests.Charge(amount: amount, currency: currency))).Json();
            (payment.Str("currency"), payment.GetProperty("amount").GetInt64()).ShouldBe((currency, amount));
        }
    }

    [Fact]
    public async Task An_unknown_payment_is_a_404_problem()
    {
        var response = await _acme.GetAsync("/v1/payments/pay_does_not_exist");

        response.StatusCode.ShouldBe(HttpStatusCode.NotFound);
        response.Content.Headers.ContentType!.MediaType.ShouldBe("application/problem+json");
        (await response.Json()).Str("code").ShouldBe("payment_not_found");
    }

    [Fact]
    public async Task Events_carry_the_correlation_id_idempotency_key_and_actor()
    {
        var request = new HttpRequestMessage(HttpMethod.Post, "/v1/payments")
        {
            Content = new StringContent(Requests.Charge().ToJsonString(), System.Text.Encoding.UTF8, "application/json"),
        };
        request.Headers.Add("Idempotency-Key", "meta-key-1");
        request.Headers.Add("X-Correlation-Id", "corr-abc-123");
        var response = await _acme.SendAsync(request);
        var id = (await response.Json()).Str("id");

        response.Headers.GetValues("X-Correlation-Id").Single().ShouldBe("corr-abc-123");
        var metadata = await app.Database.ScalarAsync<string>("select metadata::text from ledger.events where stream_id = $1 and version = 1", id);
        var parsed = JsonDocument.Parse(metadata).RootElement;
        (parsed.Str("correlationId"), parsed.Str("idempotencyKey"), parsed.Str("actor")).ShouldBe(("corr-abc-123", "meta-key-1", "merchant:acme"));
    }

    private async Task<List<string>> EventTypes(string streamId)
    {
        await using var ds = app.Database.CreateDataSource();
        await using var cmd = ds.CreateCommand("select type from ledger.events where stream_id = $1 order by version");
        cmd.Parameters.Add(new Npgsql.NpgsqlParameter { Value = streamId });
        await using var reader = await cmd.ExecuteReaderAsync();
        var types = new List<string>();
        while (await reader.ReadAsync()) types.Add(reader.GetString(0));
        return types;
    }
}
