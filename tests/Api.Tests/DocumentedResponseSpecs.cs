using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Shouldly;
using Xunit;

namespace Ledger.Api.Tests;

/// <summary>
/// Every answer a client can get, checked against the live OpenAPI document: its status must be documented for that
/// operation, its media type too, and its body must match the documented schema (types, required members, enums,
/// ranges, lengths, patterns, no undocumented members where the schema says so). A generated client trusts exactly this.
/// </summary>
public sealed class DocumentedResponseSpecs(LedgerApp app) : IClassFixture<LedgerApp>
{
    [Fact]
    public async Task Every_answer_of_every_endpoint_matches_its_documented_status_media_type_and_schema()
    {
        var document = JsonNode.Parse(await (await app.Client(null).GetAsync("/openapi/v1.json")).Content.ReadAsStringAsync())!;
        var acme = app.Client(LedgerApp.Acme);
        var globex = app.Client(LedgerApp.Globex);
        var auditor = app.Client(LedgerApp.Auditor);
        var anonymous = app.Client(null);
        var checkedAnswers = new List<string>();

        async Task<JsonElement?> Check(HttpClient client, HttpMethod method, string path, string? body = null, string? key = null, string? accept = null,
            string contentType = "application/json")
        {
            using var request = new HttpRequestMessage(method, path);
            if (body is not null) request.Content = new StringContent(body, System.Text.Encoding.UTF8, contentType);
            if (key is not null) request.Headers.TryAddWithoutValidation("Idempotency-Key", key);
            if (accept is not null) request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue(accept));
            using var response = await client.SendAsync(request);
            var text = await response.Content.ReadAsStringAsync();
            var status = ((int)response.StatusCode).ToString(System.Globalization.CultureInfo.InvariantCulture);
            var what = $"{method} {path} -> {status}";
            var operation = Operation(document, method, new Uri(new Uri("http://x"), path).AbsolutePath).ShouldNotBeNull($"{what}: no documented operation");
            var documented = operation["responses"]![status].ShouldNotBeNull($"{what}: status {status} is not documented");
            checkedAnswers.Add(what);
            if (text.Length == 0) return null;
            var mediaType = response.Content.Headers.ContentType?.MediaType.ShouldNotBeNull($"{what}: a body without a media type");
            var schema = documented["content"]?[mediaType!]?["schema"].ShouldNotBeNull($"{what}: media type {mediaType} is not documented");
            var value = mediaType!.EndsWith("json", StringComparison.Ordinal) ? JsonNode.Parse(text) : JsonValue.Create(text);
            var errors = new List<string>();
            Validate(document, schema!, value, "$", errors);
            errors.ShouldBeEmpty($"{what}: {text[..Math.Min(text.Length, 400)]}");
            return mediaType.EndsWith("json", StringComparison.Ordinal) ? JsonDocument.Parse(text).RootElement : null;
        }

        var charge = Requests.Charge(amount: 1250).ToJsonString();
        var key = Requests.NewKey();
        var payment = (await Check(acme, HttpMethod.Post, "/v1/payments", charge, key))!.Value;
        var id = payment.Str("id");
        await Check(acme, HttpMethod.Post, "/v1/payments", charge, key);                                       // a replay
        var declined = (await Check(acme, HttpMethod.Post, "/v1/payments", Requests.Charge(card: "4000000000000002").ToJsonString(), Requests.NewKey()))!.Value;
        await Check(acme, HttpMethod.Post, "/v1/payments", Requests.Charge(amount: 5).ToJsonString(), key);    // 422 reused
        await Check(acme, HttpMethod.Post, "/v1/payments", """{"amount":-1}""", Requests.NewKey());             // 400 validation
        await Check(acme, HttpMethod.Post, "/v1/payments", """{"amount":1,"amount":2}""", Requests.NewKey());  // 400 invalid_json
        await Check(acme, HttpMethod.Post, "/v1/payments", charge);                                             // 400 no key
        await Check(anonymous, HttpMethod.Post, "/v1/payments", charge, Requests.NewKey());                    // 401
        await Check(auditor, HttpMethod.Post, "/v1/payments", charge, Requests.NewKey());                      // 403
        await Check(acme, HttpMethod.Post, "/v1/payments", "amount=1", Requests.NewKey(), contentType: "text/plain"); // 415
        await Check(acme, HttpMethod.Post, "/v1/payments", "{\"description\":\"" + new string('x', 70 * 1024) + "\"}", Requests.NewKey()); // 413

        await Check(acme, HttpMethod.Post, $"/v1/payments/{id}/refunds", """{"amount":250,"reason":"duplicate"}""", Requests.NewKey());
        await Check(acme, HttpMethod.Post, $"/v1/payments/{id}/refunds", """{"amount":5000}""", Requests.NewKey());     // 422
        await Check(acme, HttpMethod.Post, $"/v1/payments/{declined.Str("id")}/refunds", "{}", Requests.NewKey());      // 409
        await Check(acme, HttpMethod.Post, "/v1/payments/pay_nope/refunds", "{}", Requests.NewKey());                  // 404
        await Check(acme, HttpMethod.Get, $"/v1/payments/{id}/refunds");

        await Check(acme, HttpMethod.Get, $"/v1/payments/{id}");
        await Check(globex, HttpMethod.Get, $"/v1/payments/{id}");                                               // 404
        await Check(acme, HttpMethod.Get, "/v1/payments?limit=2&status=succeeded");
        await Check(auditor, HttpMethod.Get, "/v1/payments");
        await Check(acme, HttpMethod.Get, "/v1/payments?limit=0");                                               // 400
        await Check(acme, HttpMethod.Get, $"/v1/payments/{id}/receipt");
        await Check(acme, HttpMethod.Get, $"/v1/payments/{id}/receipt", accept: "text/html");
        await Check(acme, HttpMethod.Get, $"/v1/payments/{declined.Str("id")}/receipt");                         // 404
        await Check(acme, HttpMethod.Get, $"/v1/payments/{id}/events");
        await Check(acme, HttpMethod.Get, $"/v1/payments/{id}/history?atVersion=1");
        await Check(acme, HttpMethod.Get, $"/v1/payments/{id}/history?atVersion=1&at=2026-01-01T00:00:00Z");     // 400
        await Check(auditor, HttpMethod.Get, "/v1/events?limit=5");
        await Check(acme, HttpMethod.Get, "/v1/events");                                                         // 403
        await Check(acme, HttpMethod.Get, "/v1/metrics");
        await Check(auditor, HttpMethod.Get, "/v1/metrics");
        await Check(acme, HttpMethod.Get, "/v1/ledger/balances");
        await Check(auditor, HttpMethod.Get, "/v1/ledger/balances?currency=USD");
        await Check(auditor, HttpMethod.Get, "/v1/ledger/balances?currency=usd");                                // 400
        await Check(anonymous, HttpMethod.Get, "/v1/metrics");                                                   // 401
        await Check(anonymous, HttpMethod.Get, "/health/live");
        await Check(anonymous, HttpMethod.Get, "/health/ready");
        await Check(anonymous, HttpMethod.Get, "/metrics");

        checkedAnswers.Select(a => a[^3..]).Distinct().Order().ShouldBe(["200", "201", "400", "401", "403", "404", "409", "413", "415", "422"]);
        TestContext.Current.TestOutputHelper?.WriteLine($"{checkedAnswers.Count} answers matched their documented schemas");
    }

    /// <summary>The operation whose path template matches, e.g. /v1/payments/{id} for /v1/payments/pay_1.</summary>
    private static JsonNode? Operation(JsonNode document, HttpMethod method, string path)
    {
        foreach (var (template, item) in document["paths"]!.AsObject())
            if (Regex.IsMatch(path, "^" + Regex.Replace(Regex.Escape(template), @"\\\{[^}]+\}", "[^/]+") + "$"))
                return item?[method.Method.ToLowerInvariant()];
        return null;
    }

    /// <summary>JSON Schema, as far as the document uses it.</summary>
    private static void Validate(JsonNode document, JsonNode schema, JsonNode? value, string at, List<string> errors)
    {
        if (schema["$ref"]?.GetValue<string>() is { } reference)
        {
            schema = reference.TrimStart('#', '/').Split('/').Aggregate(document, (node, part) => node[part]!);
        }
        var kind = Kind(value);
        if (schema["type"] is { } type)
        {
            var allowed = type is JsonArray many ? many.Select(t => t!.GetValue<string>()).ToList() : [type.GetValue<string>()];
            if (!allowed.Contains(kind) && !(kind == "integer" && allowed.Contains("number")))
            {
                errors.Add($"{at}: {kind}, documented as {string.Join(" | ", allowed)}");
                return;
            }
        }
        if (schema["enum"] is JsonArray values && !values.Any(v => JsonNode.DeepEquals(v, value)))
            errors.Add($"{at}: {value?.ToJsonString()} is not one of {values.ToJsonString()}");
        switch (value)
        {
            case JsonObject o:
                foreach (var required in schema["required"]?.AsArray() ?? [])
                    if (!o.ContainsKey(required!.GetValue<string>())) errors.Add($"{at}: missing {required}");
                var properties = schema["properties"]?.AsObject();
                foreach (var (name, member) in o)
                {
                    if (properties?[name] is { } p) Validate(document, p, member, $"{at}.{name}", errors);
                    else if (schema["additionalProperties"] is JsonObject extra) Validate(document, extra, member, $"{at}.{name}", errors);
                    else if (schema["additionalProperties"] is JsonValue no && !no.GetValue<bool>() || properties is not null && schema["additionalProperties"] is null)
                        errors.Add($"{at}: {name} is not documented");
                }
                break;
            case JsonArray a when schema["items"] is { } items:
                for (var i = 0; i < a.Count; i++) Validate(document, items, a[i], $"{at}[{i}]", errors);
                break;
            case JsonValue v when kind == "string":
                var s = v.GetValue<string>();
                if (schema["maxLength"]?.GetValue<int>() is { } max && s.Length > max) errors.Add($"{at}: longer than {max}");
                if (schema["minLength"]?.GetValue<int>() is { } min && s.Length < min) errors.Add($"{at}: shorter than {min}");
                if (schema["pattern"]?.GetValue<string>() is { } pattern && !Regex.IsMatch(s, pattern)) errors.Add($"{at}: does not match {pattern}");
                if (schema["format"]?.GetValue<string>() == "date-time" && !DateTimeOffset.TryParse(s, System.Globalization.CultureInfo.InvariantCulture, out _))
                    errors.Add($"{at}: not a date-time");
                break;
            case JsonValue v when kind is "integer" or "number":
                var n = v.GetValue<decimal>();
                if (schema["minimum"] is { } lo && n < lo.GetValue<decimal>()) errors.Add($"{at}: below {lo}");
                if (schema["maximum"] is { } hi && n > hi.GetValue<decimal>()) errors.Add($"{at}: above {hi}");
                break;
        }
    }

    private static string Kind(JsonNode? value) => value switch
    {
        null => "null",
        JsonObject => "object",
        JsonArray => "array",
        JsonValue v => v.GetValueKind() switch
        {
            JsonValueKind.String => "string",
            JsonValueKind.True or JsonValueKind.False => "boolean",
            JsonValueKind.Number => v.ToJsonString().Contains('.') || v.ToJsonString().Contains('e') ? "number" : "integer",
            _ => "null",
        },
        _ => "unknown",
    };
}
