using System.Net;
using System.Text.Json.Nodes;
using Shouldly;
using Xunit;

namespace Ledger.Api.Tests;

/// <summary>Bad input: a 400 problem naming each field, and nothing written.</summary>
public sealed class ValidationSpecs(LedgerApp app) : IClassFixture<LedgerApp>
{
    private readonly HttpClient _acme = app.Client(LedgerApp.Acme);

    public static TheoryData<string, string, string> InvalidFields => new()
    {
        { "amount", "0", "amount" },
        { "amount", "-5", "amount" },
        { "amount", "1000000000001", "amount" },
        { "currency", "\"usd\"", "currency" },
        { "currency", "\"XXX\"", "currency" },
        { "orderId", "\"\"", "orderId" },
        { "orderId", $"\"{new string('o', 65)}\"", "orderId" },
        { "orderId", "\"bad\\u0000id\"", "orderId" },
        { "card.number", "\"4242424242424241\"", "card.number" },
        { "card.number", "\"42424242424\"", "card.number" },
        { "card.number", "\"4242-4242-4242-4242\"", "card.number" },
        { "card.expMonth", "13", "card.expMonth" },
        { "card.expMonth", "0", "card.expMonth" },
        { "card.expYear", "2020", "card.expYear" },
        { "card.cvc", "\"12\"", "card.cvc" },
        { "card.cvc", "\"12345\"", "card.cvc" },
        { "card.cvc", "\"abc\"", "card.cvc" },
    };

    [Theory]
    [MemberData(nameof(InvalidFields))]
    public async Task An_invalid_field_is_a_400_naming_that_field(string path, string json, string errorField)
    {
        var body = Requests.Charge();
        Set(body, path, JsonNode.Parse(json));
        var eventsBefore = await app.Database.ScalarAsync<long>("select count(*) from ledger.events");

        var response = await _acme.Charge(body);

        await IdempotencySpecs.ShouldBeProblem(response, HttpStatusCode.BadRequest, "validation_failed");
        var errors = (await response.Json()).GetProperty("errors");
        errors.TryGetProperty(errorField, out var messages).ShouldBeTrue($"errors: {errors}");
        messages.GetArrayLength().ShouldBeGreaterThan(0);
        (await app.Database.ScalarAsync<long>("select count(*) from ledger.events")).ShouldBe(eventsBefore);
    }

    [Theory]
    [InlineData("amount")]
    [InlineData("currency")]
    [InlineData("orderId")]
    [InlineData("card")]
    public async Task A_missing_required_field_is_a_400_naming_it(string field)
    {
        var body = Requests.Charge();
        body.Remove(field);

        var response = await _acme.Charge(body);

        await IdempotencySpecs.ShouldBeProblem(response, HttpStatusCode.BadRequest, "validation_failed");
        (await response.Json()).GetProperty("errors").TryGetProperty(field, out _).ShouldBeTrue();
    }

    [Fact]
    public async Task Several_invalid_fields_are_all_listed()
    {
        var body = Requests.Charge(amount: 0, currency: "XXX");

        var errors = (await (await _acme.Charge(body)).Json()).GetProperty("errors");

        errors.TryGetProperty("amount", out _).ShouldBeTrue();
        errors.TryGetProperty("currency", out _).ShouldBeTrue();
    }

    [Fact]
    public async Task Metadata_limits_are_enforced()
    {
        var tooMany = Requests.Charge();
        tooMany["metadata"] = new JsonObject(Enumerable.Range(0, 51).Select(i => KeyValuePair.Create($"k{i}", (JsonNode?)JsonValue.Create("v"))));
        var longKey = Requests.Charge();
        longKey["metadata"] = new JsonObject { [new string('k', 41)] = "v" };
        var longValue = Requests.Charge();
        longValue["metadata"] = new JsonObject { ["k"] = new string('v', 501) };

        foreach (var body in new[] { tooMany, longKey, longValue })
            await IdempotencySpecs.ShouldBeProblem(await _acme.Charge(body), HttpStatusCode.BadRequest, "validation_failed");
        var atLimit = Requests.Charge();
        atLimit["metadata"] = new JsonObject(Enumerable.Range(0, 50).Select(i => KeyValuePair.Create($"k{i}", (JsonNode?)JsonValue.Create(new string('v', 500)))));
        (await _acme.Charge(atLimit)).StatusCode.ShouldBe(HttpStatusCode.Created);
    }

    [Theory]
    [InlineData("""{"amount":1250,"currency":"USD","orderId":"o","card":{"number":"4242424242424242","expMonth":12,"expYear":2030,"cvc":"123"},"surprise":1}""", "surprise")]
    [InlineData("""{"amount":1250,"currency":"USD","orderId":"o","card":{"number":"4242424242424242","expMonth":12,"expYear":2030,"cvc":"123","pin":"0000"}}""", "card.pin")]
    public async Task Unknown_fields_are_rejected(string json, string field)
    {
        var response = await _acme.PostRaw("/v1/payments", json, Requests.NewKey());

        await IdempotencySpecs.ShouldBeProblem(response, HttpStatusCode.BadRequest, "validation_failed");
        (await response.Json()).GetProperty("errors").TryGetProperty(field, out _).ShouldBeTrue();
    }

    [Theory]
    [InlineData("""{"amount":"1250","currency":"USD","orderId":"o"}""")]
    [InlineData("""{"amount":1e30,"currency":"USD","orderId":"o"}""")]
    [InlineData("""{"amount":12.5,"currency":"USD","orderId":"o"}""")]
    [InlineData("""{"amount":1250,"currency":"USD","orderId":"o","metadata":{"n":1}}""")]
    [InlineData("""{"amount":1250,"currency":"USD",""")]
    [InlineData("""[1,2,3]""")]
    [InlineData("""null""")]
    [InlineData("""not json""")]
    public async Task Wrong_types_and_broken_json_are_400_not_500(string json)
    {
        var response = await _acme.PostRaw("/v1/payments", json, Requests.NewKey());

        await IdempotencySpecs.ShouldBeProblem(response, HttpStatusCode.BadRequest, "validation_failed");
    }

    [Fact]
    public async Task An_unknown_path_or_a_wrong_method_is_a_problem_too()
    {
        var unknown = await _acme.GetAsync("/v1/paymnets");
        var wrongMethod = await _acme.DeleteAsync("/v1/payments");

        await IdempotencySpecs.ShouldBeProblem(unknown, HttpStatusCode.NotFound, "not_found");
        await IdempotencySpecs.ShouldBeProblem(wrongMethod, HttpStatusCode.MethodNotAllowed, "method_not_allowed");
    }

    [Fact]
    public async Task A_body_that_is_not_JSON_is_415_problem()
    {
        var request = new HttpRequestMessage(HttpMethod.Post, "/v1/payments") { Content = new FormUrlEncodedContent([new("amount", "1250")]) };
        request.Headers.Add("Idempotency-Key", Requests.NewKey());

        var response = await _acme.SendAsync(request);

        await IdempotencySpecs.ShouldBeProblem(response, HttpStatusCode.UnsupportedMediaType, "unsupported_media_type");
    }

    [Fact]
    public async Task Without_a_key_any_body_is_401_first()
    {
        var request = new HttpRequestMessage(HttpMethod.Post, "/v1/payments") { Content = new FormUrlEncodedContent([new("amount", "1250")]) };

        var response = await app.Client(null).SendAsync(request);

        await IdempotencySpecs.ShouldBeProblem(response, HttpStatusCode.Unauthorized, "unauthorized");
    }

    [Fact]
    public async Task A_body_over_64_KiB_is_413()
    {
        var body = Requests.Charge();
        body["description"] = new string('d', 70 * 1024);

        var response = await _acme.Charge(body);

        await IdempotencySpecs.ShouldBeProblem(response, HttpStatusCode.RequestEntityTooLarge, "payload_too_large");
    }

    [Fact]
    public async Task A_validation_error_never_echoes_the_card_number()
    {
        var body = Requests.Charge();
        ((JsonObject)body["card"]!)["number"] = 4242424242424242; // a number, not a string: a type error

        var response = await _acme.Charge(body);

        response.StatusCode.ShouldBe(HttpStatusCode.BadRequest);
        (await response.Content.ReadAsStringAsync()).ShouldNotContain("4242424242424242");
    }

    [Theory]
    [InlineData("/v1/payments", """{"amount":1,"amount":2,"currency":"USD","orderId":"o","card":{"number":"4242424242424242","expMonth":12,"expYear":2030,"cvc":"123"}}""", "amount")]
    [InlineData("/v1/payments", """{"amount":1250,"currency":"USD","orderId":"o","card":{"number":"4242424242424242","number":"4000000000000002","expMonth":12,"expYear":2030,"cvc":"123"}}""", "card.number")]
    [InlineData("/v1/payments", """{"amount":1250,"currency":"USD","orderId":"o","metadata":{"table":"7","table":"8"},"card":{"number":"4242424242424242","expMonth":12,"expYear":2030,"cvc":"123"}}""", "metadata.table")]
    [InlineData("/v1/payments", """{"amount":1250,"currency":"USD","orderId":"o","surprise":{"x":1,"x":2},"card":{"number":"4242424242424242","expMonth":12,"expYear":2030,"cvc":"123"}}""", "surprise.x")]
    [InlineData("refund", """{"amount":100,"amount":200}""", "amount")]
    [InlineData("refund", """{"metadata":{"k":"a","k":"b"}}""", "metadata.k")]
    public async Task A_repeated_member_is_a_400_invalid_json_naming_it_and_writes_nothing(string path, string json, string member)
    {
        if (path == "refund") path = $"/v1/payments/{(await (await _acme.Charge()).Json()).Str("id")}/refunds";
        var before = await Written();

        var response = await _acme.PostRaw(path, json, Requests.NewKey());

        await IdempotencySpecs.ShouldBeProblem(response, HttpStatusCode.BadRequest, "invalid_json");
        var errors = (await response.Json()).GetProperty("errors");
        errors.EnumerateObject().Select(e => e.Name).ShouldBe([member]);
        (await Written()).ShouldBe(before);
    }

    [Fact]
    public async Task An_unknown_field_is_answered_together_with_every_other_field_error()
    {
        var json = """{"amount":-5,"orderId":"","surprise":1,"card":{"number":"4242424242424241","expMonth":13,"expYear":2030,"cvc":"1","pin":"0000"}}""";

        var response = await _acme.PostRaw("/v1/payments", json, Requests.NewKey());

        await IdempotencySpecs.ShouldBeProblem(response, HttpStatusCode.BadRequest, "validation_failed");
        var errors = (await response.Json()).GetProperty("errors");
        errors.EnumerateObject().Select(e => e.Name).Order(StringComparer.Ordinal).ShouldBe(
            ["amount", "card.cvc", "card.expMonth", "card.number", "card.pin", "currency", "orderId", "surprise"]);
        errors.GetProperty("surprise")[0].GetString().ShouldBe("Unknown field.");
        errors.GetProperty("card.pin")[0].GetString().ShouldBe("Unknown field.");
    }

    [Fact]
    public async Task An_unknown_field_in_a_refund_is_answered_with_the_refunds_other_errors()
    {
        var id = (await (await _acme.Charge()).Json()).Str("id");

        var response = await _acme.PostRaw($"/v1/payments/{id}/refunds",
            """{"amount":0,"reason":"because","everything":true,"metadata":{"k":"nul\u0000here"}}""", Requests.NewKey());

        await IdempotencySpecs.ShouldBeProblem(response, HttpStatusCode.BadRequest, "validation_failed");
        var errors = (await response.Json()).GetProperty("errors");
        errors.EnumerateObject().Select(e => e.Name).Order(StringComparer.Ordinal).ShouldBe(["amount", "everything", "metadata.k", "reason"]);
        errors.GetProperty("amount")[0].GetString().ShouldBe("Must be between 1 and 1000000000000 minor units.");
        errors.GetProperty("reason")[0].GetString().ShouldBe("Must be one of: duplicate, fraudulent, requested_by_customer.");
    }

    [Fact]
    public async Task A_member_name_that_looks_like_a_card_number_is_never_echoed()
    {
        var response = await _acme.PostRaw("/v1/payments", """{"4242424242424242":1,"4242424242424242":2}""", Requests.NewKey());

        await IdempotencySpecs.ShouldBeProblem(response, HttpStatusCode.BadRequest, "invalid_json");
        (await response.Content.ReadAsStringAsync()).ShouldNotContain("424242424242");
    }

    private async Task<(long Events, long Keys)> Written() =>
        (await app.Database.ScalarAsync<long>("select count(*) from ledger.events"),
         await app.Database.ScalarAsync<long>("select count(*) from idempotency_keys"));

    private static void Set(JsonObject body, string path, JsonNode? value)
    {
        var parts = path.Split('.');
        var target = parts.Length == 1 ? body : (JsonObject)body[parts[0]]!;
        target[parts[^1]] = value;
    }
}
