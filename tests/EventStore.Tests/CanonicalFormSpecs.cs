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
