using System.Security.Cryptography;
using System.Text;

namespace Ledger.Host;

/// <summary>Keys for keyed hashes of card numbers and request bodies (Ledger:Secrets:FingerprintKey).</summary>
public sealed class Secrets(IConfiguration configuration)
{
    public byte[] FingerprintKey { get; } = Encoding.UTF8.GetBytes(
        configuration["Ledger:Secrets:FingerprintKey"] is { Length: >= 16 } key
            ? key
            : throw new InvalidOperationException("Ledger:Secrets:FingerprintKey must be set (16 characters or more)."));

    /// <summary>Tells two uses of one card apart without keeping its number.</summary>
    public string CardFingerprint(string cardNumber) =>
        "fp_" + Convert.ToHexStringLower(HMACSHA256.HashData(FingerprintKey, Encoding.UTF8.GetBytes("card:" + cardNumber)))[..24];
}

public static class Clock
{
    /// <summary>Now, cut to the microsecond PostgreSQL keeps, so an event's time reads back exactly as written.</summary>
    public static DateTimeOffset Now(this TimeProvider time)
    {
        var now = time.GetUtcNow();
        return new DateTimeOffset(now.Ticks - now.Ticks % 10, TimeSpan.Zero);
    }
}
