using Shouldly;
using Xunit;

namespace Ledger.EventStore.Tests;

/// <summary>
/// The canonical JSON the content hash covers is Python's <c>json.dumps(v, sort_keys=True, separators=(",", ":"),
/// ensure_ascii=False)</c> (docs/events.md), so an auditor can recompute a hash with the standard library. The expected
/// texts below are what Python 3.11 printed for these documents.
/// </summary>
public sealed class CanonicalFormSpecs
{
    [Fact]
    public void Keys_are_in_code_point_order_and_strings_escaped_only_where_json_requires_it()
    {
        const string written = """{"b": 1, "a": [true, false, null, -12, "x"], "\u00e9t\u00e9": "caf\u00e9 + cr\u00e8me <&> \"q\" \\ \n\t\u0001\u007f\u2028", "\ud83d\ude00": 1, "\uffff": 2, "A": {"z": {}, "y": []}}""";

        HashChain.Json(written).ShouldBe("{\"A\":{\"y\":[],\"z\":{}},\"a\":[true,false,null,-12,\"x\"],\"b\":1,\"été\":\"café + crème <&> \\\"q\\\" \\\\ \\n\\t\\u0001\u007f\u2028\",\"\uffff\":2,\"😀\":1}");
    }

    [Fact]
    public void The_same_value_printed_by_the_host_and_by_jsonb_has_one_canonical_text()
    {
        // System.Text.Json escapes non-ASCII and HTML characters; PostgreSQL prints jsonb with its own key order and spaces.
        const string host = """{"orderId":"o-1","description":"caf\u00E9 \u003Cb\u003E","amount":1250,"metadata":{"k":"v"}}""";
        const string jsonb = """{"amount": 1250, "orderId": "o-1", "metadata": {"k": "v"}, "description": "café <b>"}""";

        HashChain.Json(host).ShouldBe(HashChain.Json(jsonb));
        HashChain.Json(jsonb).ShouldBe("""{"amount":1250,"description":"café <b>","metadata":{"k":"v"},"orderId":"o-1"}""");
    }

    [Fact]
    public void The_time_line_has_six_fractional_digits_in_utc()
    {
        HashChain.Time(new DateTimeOffset(2026, 12, 2, 3, 4, 5, TimeSpan.FromHours(1)).AddTicks(1_234_567))
            .ShouldBe("2026-12-02T02:04:05.123456Z");
    }
}

/// <summary>
/// The canonical writer against Python's own <c>json.dumps</c> on documents it has never seen: random nesting, keys that
/// sort differently as UTF-16 and as code points, escapes in keys and values, and the same value printed two ways
/// (System.Text.Json's escaping, and spaced like jsonb's print).
/// </summary>
public sealed class CanonicalFormAgainstPythonSpecs
{
    private static readonly string[] Keys =
        ["a", "b", "A", "aa", "ab", "é", "été", "\uffff", "😀", "k\"q", "back\\slash", "tab\tkey", "\u0001", "z", "amount", "orderId", "10", "1"];

    private static readonly string[] Strings =
        ["", "x", "café <b>", "quote \" and \\", "line\nbreak\r\t\b\f", "\u0000\u001f\u007f", "\u2028\u2029", "😀 emoji", "+&'"];

    [Fact]
    public void Five_hundred_random_documents_canonicalise_to_what_python_prints()
    {
        var random = new Random(20261203);
        var documents = Enumerable.Range(0, 500).Select(_ => Object(random, 0)).ToList();
        var texts = documents.SelectMany(d => new[]
        {
            d.ToJsonString(),
            // Spaced and with non-ASCII as it is, the way PostgreSQL prints jsonb.
            d.ToJsonString(new System.Text.Json.JsonSerializerOptions { WriteIndented = false, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping })
                .Replace("\":", "\": ").Replace(",\"", ", \""),
        }).ToList();

        var python = Python(texts);

        python.Count.ShouldBe(texts.Count);
        for (var i = 0; i < texts.Count; i++)
            HashChain.Json(texts[i]).ShouldBe(python[i], $"document {i}: {texts[i]}");
    }

    private static System.Text.Json.Nodes.JsonNode? Value(Random random, int depth)
    {
        switch (random.Next(depth > 3 ? 4 : 6))
        {
            case 0: return random.Next(3) == 0 ? null : System.Text.Json.Nodes.JsonValue.Create(random.Next(2) == 0);
            case 1: return System.Text.Json.Nodes.JsonValue.Create(random.NextInt64(-1_000_000_000_000, 1_000_000_000_000));
            case 2:
            case 3: return System.Text.Json.Nodes.JsonValue.Create(Strings[random.Next(Strings.Length)]);
            case 4:
                var array = new System.Text.Json.Nodes.JsonArray();
                for (var i = random.Next(4); i > 0; i--) array.Add(Value(random, depth + 1));
                return array;
            default: return Object(random, depth);
        }
    }

    private static System.Text.Json.Nodes.JsonObject Object(Random random, int depth)
    {
        var o = new System.Text.Json.Nodes.JsonObject();
        foreach (var key in Keys.OrderBy(_ => random.Next()).Take(random.Next(7))) o[key] = Value(random, depth + 1);
        return o;
    }

    private static List<string> Python(IReadOnlyList<string> lines)
    {
        var start = new System.Diagnostics.ProcessStartInfo("python3",
            ["-c", "import sys, json\nfor line in sys.stdin: print(json.dumps(json.loads(line), sort_keys=True, separators=(',', ':'), ensure_ascii=False))"])
        {
            RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true,
            StandardInputEncoding = new System.Text.UTF8Encoding(false), StandardOutputEncoding = System.Text.Encoding.UTF8,
        };
        start.Environment["PYTHONIOENCODING"] = "utf-8";
        using var process = System.Diagnostics.Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        foreach (var line in lines) process.StandardInput.Write(line + "\n");
        process.StandardInput.Close();
        process.WaitForExit(30_000).ShouldBeTrue("python3 did not finish in 30 s");
        process.ExitCode.ShouldBe(0, process.StandardError.ReadToEnd());
        return output.Result.Split('\n', StringSplitOptions.RemoveEmptyEntries).ToList();
    }
}
