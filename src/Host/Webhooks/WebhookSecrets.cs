using System.Security.Cryptography;
using System.Text;

namespace Ledger.Host.Webhooks;

/// <summary>
/// Webhook signing secrets: made here, shown once, and kept only sealed (AES-256-GCM under Ledger:Secrets:WebhookKey, the
/// endpoint's id as associated data). The key id stored with each secret names the key that sealed it, so a new key can
/// take over while secrets sealed under a retired one (Ledger:Secrets:RetiredWebhookKeys) are still opened.
/// </summary>
public sealed class WebhookSecrets
{
    private readonly (string Id, byte[] Key) _current;
    private readonly Dictionary<string, byte[]> _all = [];

    public WebhookSecrets(IConfiguration configuration)
    {
        var current = configuration["Ledger:Secrets:WebhookKey"];
        if (current is not { Length: >= 32 })
            throw new InvalidOperationException("Ledger:Secrets:WebhookKey must be set (32 characters or more).");
        _current = Derive(current);
        _all[_current.Id] = _current.Key;
        foreach (var retired in configuration.GetSection("Ledger:Secrets:RetiredWebhookKeys").Get<string[]>() ?? [])
        {
            var (id, key) = Derive(retired);
            _all.TryAdd(id, key);
        }
    }

    /// <summary>A new secret: whsec_ and 32 random bytes, base64url.</summary>
    public static string NewSecret() => "whsec_" + Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    public (string KeyId, byte[] Sealed) Seal(string secret, string endpointId)
    {
        var plain = Encoding.UTF8.GetBytes(secret);
        var sealedSecret = new byte[12 + plain.Length + 16]; // nonce, ciphertext, tag
        var nonce = sealedSecret.AsSpan(0, 12);
        RandomNumberGenerator.Fill(nonce);
        using var aes = new AesGcm(_current.Key, 16);
        aes.Encrypt(nonce, plain, sealedSecret.AsSpan(12, plain.Length), sealedSecret.AsSpan(12 + plain.Length), Encoding.UTF8.GetBytes(endpointId));
        return (_current.Id, sealedSecret);
    }

    /// <exception cref="CryptographicException">Not sealed for this endpoint under a key this host has.</exception>
    public string Open(string keyId, byte[] sealedSecret, string endpointId)
    {
        if (!_all.TryGetValue(keyId, out var key))
            throw new CryptographicException($"Webhook secret sealed under key {keyId}, which is neither Ledger:Secrets:WebhookKey nor a retired one.");
        var plain = new byte[sealedSecret.Length - 28];
        using var aes = new AesGcm(key, 16);
        aes.Decrypt(sealedSecret.AsSpan(0, 12), sealedSecret.AsSpan(12, plain.Length), sealedSecret.AsSpan(12 + plain.Length), plain,
            Encoding.UTF8.GetBytes(endpointId));
        return Encoding.UTF8.GetString(plain);
    }

    private static (string Id, byte[] Key) Derive(string configured)
    {
        var key = SHA256.HashData(Encoding.UTF8.GetBytes("ledger webhook secrets\n" + configured));
        return ("k" + Convert.ToHexStringLower(SHA256.HashData(key))[..8], key);
    }
}
