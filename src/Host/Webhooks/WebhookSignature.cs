using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace Ledger.Host.Webhooks;

/// <summary>
/// <c>Ledger-Signature: t=&lt;unix seconds&gt;,v1=&lt;hex HMAC-SHA256(secret, "&lt;t&gt;.&lt;body&gt;")&gt;</c>, as Stripe signs its
/// webhooks. Each attempt is signed afresh, so a receiver can refuse old timestamps (a replayed request) without refusing retries.
/// </summary>
public static class WebhookSignature
{
    public const string Header = "Ledger-Signature";

    public static string Sign(string secret, long unixSeconds, string body) =>
        $"t={unixSeconds.ToString(CultureInfo.InvariantCulture)},v1={Hex(secret, unixSeconds, body)}";

    /// <summary>
    /// The check a receiver makes (docs/api.md has it in several languages): the header parses, its time is within
    /// <paramref name="tolerance"/> of now, and one of its v1 values is the HMAC of this body, compared in constant time.
    /// </summary>
    public static bool Verify(string secret, string? header, string body, DateTimeOffset now, TimeSpan tolerance)
    {
        if (string.IsNullOrEmpty(header)) return false;
        long? t = null;
        var signatures = new List<string>();
        foreach (var part in header.Split(','))
        {
            var kv = part.Split('=', 2);
            if (kv.Length != 2) return false;
            if (kv[0] == "t" && long.TryParse(kv[1], NumberStyles.None, CultureInfo.InvariantCulture, out var seconds)) t = seconds;
            else if (kv[0] == "v1") signatures.Add(kv[1]);
        }
        if (t is not { } time || Math.Abs(now.ToUnixTimeSeconds() - time) > tolerance.TotalSeconds) return false;
        var expected = Encoding.ASCII.GetBytes(Hex(secret, time, body));
        return signatures.Any(s => CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(s), expected));
    }

    private static string Hex(string secret, long unixSeconds, string body) => Convert.ToHexStringLower(
        HMACSHA256.HashData(Encoding.UTF8.GetBytes(secret), Encoding.UTF8.GetBytes($"{unixSeconds.ToString(CultureInfo.InvariantCulture)}.{body}")));
}
