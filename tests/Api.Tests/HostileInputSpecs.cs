using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Shouldly;
using Xunit;

namespace Ledger.Api.Tests;

/// <summary>
/// Generated hostile input against every endpoint. Every case is invalid by construction; the answer must be a
/// 4xx problem+json with a stable code, never a 5xx, and nothing may be written.
/// </summary>
public sealed class HostileInputSpecs(LedgerApp app) : IClassFixture<LedgerApp>
{
    private static readonly string[] StableCodes =
    [
        "validation_failed", "idempotency_key_missing", "idempotency_key_invalid", "idempotency_key_reused", "idempotency_key_in_use",
        "payment_not_found", "payment_not_refundable", "refund_exceeds_remaining", "concurrency_conflict", "rate_limited",
        "unauthorized", "forbidden", "payload_too_large", "unsupported_media_type", "not_found", "method_not_allowed", "invalid_json",
    ];

    private static readonly string[] Nasty =
    [
        "", " ", "\u0000", "a\u0000b", "\u0001\u001f", "\t\r\n", "\u202e\u0645\u0631\u062d\u0628\u0627", "😀💸🧾", "\ud800", "\ufeff",
        "' or 1=1 --", "'; drop table events; --", "\" or \"\"=\"", "%00", "../../etc/passwd", "${jndi:ldap://x}", "<script>alert(1)</script>",
        new string('x', 5000), "NaN", "Infinity", "-0", "1e30", "null", "true", "[]", "{}",
    ];

    private static readonly JsonNode?[] WrongValues =
    [
        null, JsonValue.Create(true), JsonValue.Create(-1), JsonValue.Create(0), JsonValue.Create(1.5), JsonValue.Create(1e30),
        JsonValue.Create(long.MaxValue), JsonValue.Create(long.MinValue), JsonValue.Create(1_000_000_000_001L), JsonValue.Create("1250"),
        new JsonArray(1, 2), new JsonObject { ["nested"] = new JsonObject() }, JsonValue.Create("\u0000"), JsonValue.Create(new string('9', 400)),
    ];

    [Fact]
    public async Task Thousands_of_generated_hostile_requests_get_a_4xx_problem_with_a_stable_code_and_write_nothing()
    {
        var acme = app.Client(LedgerApp.Acme);
        var charged = await (await acme.Charge(Requests.Charge(amount: 1000))).Json();
        var paymentId = charged.Str("id");
        var before = await Counts();
        var random = new Random(20261122);
        var cases = 0;
        var byEndpoint = new Dictionary<string, int>();

        for (var i = 0; i < 3000; i++)
        {
            var (name, request) = Generate(random, paymentId);
            using var response = await acme.SendAsync(request);
            var body = await response.Content.ReadAsStringAsync();
            var what = $"case {i} ({name}): {(int)response.StatusCode} {body[..Math.Min(body.Length, 300)]}";

            ((int)response.StatusCode).ShouldBeInRange(400, 499, what);
            response.Content.Headers.ContentType.ShouldNotBeNull(what);
            response.Content.Headers.ContentType.MediaType.ShouldBe("application/problem+json", what);
            var code = JsonNode.Parse(body)!["code"]!.GetValue<string>();
            StableCodes.ShouldContain(code, what);
            body.ShouldNotContain("4242424242424242", customMessage: what);
            cases++;
            byEndpoint[name] = byEndpoint.GetValueOrDefault(name) + 1;
        }

        (await Counts()).ShouldBe(before);
        TestContext.Current.TestOutputHelper?.WriteLine($"{cases} hostile cases: {string.Join(", ", byEndpoint.OrderBy(e => e.Key).Select(e => $"{e.Key} {e.Value}"))}");
    }

    [Fact]
    public async Task SQL_in_a_filter_is_just_text_that_matches_nothing()
    {
        await app.Client(LedgerApp.Acme).Charge();
        foreach (var sql in new[] { "' or 1=1 --", "x'; delete from payment_views; --", "%' or '%'='" })
        {
            var response = await app.Client(LedgerApp.Acme).GetAsync($"/v1/payments?orderId={Uri.EscapeDataString(sql)}");
            response.StatusCode.ShouldBe(HttpStatusCode.OK);
            (await response.Json()).GetProperty("data").GetArrayLength().ShouldBe(0);
        }
        (await app.Database.ScalarAsync<long>("select count(*) from payment_views")).ShouldBeGreaterThan(0);
    }

    private async Task<(long Events, long Keys, long Views)> Counts() =>
        (await app.Database.ScalarAsync<long>("select count(*) from ledger.events"),
         await app.Database.ScalarAsync<long>("select count(*) from idempotency_keys"),
         await app.Database.ScalarAsync<long>("select count(*) from payment_views"));

    private static (string Name, HttpRequestMessage Request) Generate(Random r, string paymentId)
    {
        T Pick<T>(IReadOnlyList<T> items) => items[r.Next(items.Count)];
        string NastyText() => Pick(Nasty);
        // A NUL in a URL path never reaches an application: Kestrel answers 400 itself, and the test host cannot carry one.
        string NastyPath() => Pick(Nasty.Where(n => !n.Contains('\u0000')).ToArray());
        return r.Next(10) switch
        {
            0 or 1 or 2 => ("charge body", Post("/v1/payments", BrokenCharge(r), GoodKey())),
            3 => ("charge key", Post("/v1/payments", Requests.Charge().ToJsonString(), BadKey(r))),
            4 => ("refund body", Post($"/v1/payments/{paymentId}/refunds", BrokenRefund(r), GoodKey())),
            5 => ("refund path", Post($"/v1/payments/{Uri.EscapeDataString(NastyPath() + "x")}/refunds", "{}", GoodKey())),
            6 => ("list query", Get($"/v1/payments?{BrokenListQuery(r)}")),
            7 => ("history query", Get($"/v1/payments/{paymentId}/history?{Pick(new[] { "atVersion", "at" })}={Uri.EscapeDataString(NastyText() + "z")}")),
            8 => ("lookup path", Get($"/v1/payments/{Uri.EscapeDataString(NastyPath() + "y")}{Pick(new[] { "", "/refunds", "/receipt", "/events", "/history" })}")),
            _ => ("balances query", Get($"/v1/ledger/balances?currency={Uri.EscapeDataString(NastyText() + "Q")}")),
        };

        string GoodKey() => Requests.NewKey();
    }

    private static string BadKey(Random r) => r.Next(5) switch
    {
        0 => new string('k', 256 + r.Next(10_000)),
        1 => "clé-" + (char)r.Next(0x80, 0x2000),
        2 => "\"unterminated",
        3 => "\"bad\\escape\"",
        _ => "key\u007f",
    };

    /// <summary>A charge with at least one guaranteed-invalid change, and maybe more.</summary>
    private static string BrokenCharge(Random r)
    {
        var body = Requests.Charge();
        var card = (JsonObject)body["card"]!;
        var breakages = 1 + r.Next(3);
        for (var b = 0; b < breakages; b++)
        {
            switch (r.Next(14))
            {
                case 0: body["amount"] = Wrong(r, allowed: v => v is not JsonValue n || !n.TryGetValue<long>(out var a) || a < 1 || a > 1_000_000_000_000); break;
                case 1: body["currency"] = JsonValue.Create(Pick(r, ["usd", "XXX", "US", "USDX", "", "€", "' or 1=1"])); break;
                case 2: body["orderId"] = JsonValue.Create(Pick(r, ["", new string('o', 65), "a\u0000b", "tab\there", "\u0007bell"])); break;
                case 3: card["number"] = JsonValue.Create(Pick(r, ["4242424242424241", "4242", "4242-4242-4242-4242", "", "٤٢٤٢٤٢٤٢٤٢٤٢٤٢٤٢", new string('4', 20)])); break;
                case 4: card["expMonth"] = Wrong(r, allowed: v => v is not JsonValue n || !n.TryGetValue<int>(out var m) || m is < 1 or > 12); break;
                case 5: card["expYear"] = JsonValue.Create(Pick(r, [1999, 2020, 2101, -2030])); break;
                case 6: card["cvc"] = JsonValue.Create(Pick(r, ["12", "12345", "abc", "", "12\u0000"])); break;
                case 7: body["metadata"] = new JsonObject { [Pick(r, ["", new string('k', 41)])] = "v" }; break;
                case 8: body["metadata"] = new JsonObject { ["k"] = Pick(r, [new string('v', 501), "nul\u0000here"]) }; break;
                case 9: body[Pick(r, ["surprise", "Amount", "card_number", "__proto__"])] = 1; break;
                case 10: body.Remove(Pick(r, ["amount", "currency", "orderId", "card"])); break;
                case 11: body["description"] = JsonValue.Create(Pick(r, [new string('d', 1001), "nul\u0000byte"])); break;
                case 12: return Repeated(r, body.ToJsonString());
                default: return Malformed(r, body.ToJsonString());
            }
        }
        return body.ToJsonString();
    }

    private static string BrokenRefund(Random r)
    {
        var body = new JsonObject { ["amount"] = 100, ["reason"] = "duplicate" };
        switch (r.Next(7))
        {
            case 5: return Repeated(r, body.ToJsonString());
            // null is not wrong here: an absent amount refunds everything that remains.
            case 0: body["amount"] = Wrong(r, allowed: v => v is not null && (v is not JsonValue n || !n.TryGetValue<long>(out var a) || a < 1 || a > 1_000_000_000_000)); break;
            case 1: body["reason"] = JsonValue.Create(Pick(r, ["because", "", "DUPLICATE", "\u0000"])); break;
            case 2: body["metadata"] = new JsonObject { ["k"] = new string('v', 501) }; break;
            case 3: body["refundEverything"] = true; break;
            case 4: body["metadata"] = new JsonObject { ["k"] = "nul\u0000here" }; break;
            default: return Malformed(r, body.ToJsonString());
        }
        return body.ToJsonString();
    }

    private static string BrokenListQuery(Random r) => r.Next(6) switch
    {
        0 => $"status={Uri.EscapeDataString(Pick(r, Nasty) + "s")}",
        1 => $"limit={Uri.EscapeDataString(Pick(r, ["0", "101", "-1", "ten", "1e3", "99999999999", "1.5", ""]))}",
        2 => $"createdFrom={Uri.EscapeDataString(Pick(r, ["yesterday", "2026-13-01T00:00:00Z", "2026-11-22", "0", "' or 1=1"]))}",
        3 => $"startingAfter={Uri.EscapeDataString(Pick(r, ["pay_unknown", "' or 1=1 --", "\u0000"]) + "c")}",
        4 => $"currency={Uri.EscapeDataString(Pick(r, ["usd", "XXX", "'; --"]))}",
        _ => $"createdTo={Uri.EscapeDataString(Pick(r, ["soon", "2026-11-22T25:00:00Z"]))}&orderId=%27%20or%201%3D1",
    };

    private static JsonNode? Wrong(Random r, Func<JsonNode?, bool> allowed)
    {
        JsonNode? value;
        do value = WrongValues[r.Next(WrongValues.Length)]?.DeepClone();
        while (!allowed(value));
        return value;
    }

    private static string Malformed(Random r, string json) => r.Next(5) switch
    {
        0 => json[..r.Next(1, json.Length - 1)],                                  // truncated
        1 => json.Replace(":", "=", StringComparison.Ordinal),                       // not JSON
        2 => new string('[', 10_000) + new string(']', 10_000),                    // deeper than the reader allows
        3 => "{\"description\":\"" + new string('x', 70 * 1024) + "\"}",          // over 64 KiB
        _ => Encoding.Latin1.GetString(Enumerable.Range(0, 64).Select(_ => (byte)r.Next(256)).ToArray()),
    };

    /// <summary>The same body with one member given twice: at the top, inside card or inside metadata (where present).</summary>
    public static string Repeated(Random r, string json)
    {
        var places = new[] { ("{", "\"amount\":1,"), ("\"card\":{", "\"number\":\"4000000000000002\","), ("\"metadata\":{", "\"table\":\"8\",") }
            .Where(p => json.Contains(p.Item1, StringComparison.Ordinal) && json.Contains(p.Item2.Split(':')[0], StringComparison.Ordinal)).ToArray();
        var (after, member) = Pick(r, places);
        var at = json.IndexOf(after, StringComparison.Ordinal) + after.Length;
        return json[..at] + member + json[at..];
    }

    private static T Pick<T>(Random r, T[] items) => items[r.Next(items.Length)];

    private static HttpRequestMessage Post(string path, string body, string key)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = new StringContent(body, Encoding.UTF8, "application/json") };
        request.Headers.TryAddWithoutValidation("Idempotency-Key", key);
        return request;
    }

    private static HttpRequestMessage Get(string path) => new(HttpMethod.Get, path);
}
