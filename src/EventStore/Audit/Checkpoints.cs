using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace Ledger.EventStore.Audit;

/// <summary>
/// A signed statement that the log's first <see cref="EventCount"/> events, up to the one at global sequence
/// <see cref="Position"/>, have the Merkle root <see cref="Root"/> (docs/events.md). The signature (ECDSA P-256 over
/// SHA-256, IEEE P1363 r||s, base64) covers <see cref="SignedText"/>.
/// </summary>
public sealed record Checkpoint(long Position, long EventCount, string Root, DateTimeOffset At, string KeyId, string Signature)
{
    /// <summary>What the signature covers: six lines joined by \n.</summary>
    public string SignedText =>
        string.Join('\n', "ledger-checkpoint-v1", EventCount.ToString(CultureInfo.InvariantCulture),
            Position.ToString(CultureInfo.InvariantCulture), Root, HashChain.Time(At), KeyId);

    public string ToJson() => JsonSerializer.Serialize(new Dictionary<string, object>
    {
        ["position"] = Position, ["eventCount"] = EventCount, ["root"] = Root, ["at"] = HashChain.Time(At),
        ["keyId"] = KeyId, ["signature"] = Signature,
    }, Plain);

    // Hex, base64 and times only: no need to escape `+` and `/` as \u002B.
    private static readonly JsonSerializerOptions Plain = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>A checkpoint from its JSON line; null if the line is not one.</summary>
    public static Checkpoint? Parse(string line)
    {
        try
        {
            using var document = JsonDocument.Parse(line);
            var e = document.RootElement;
            return new Checkpoint(e.GetProperty("position").GetInt64(), e.GetProperty("eventCount").GetInt64(),
                e.GetProperty("root").GetString()!, DateTimeOffset.Parse(e.GetProperty("at").GetString()!, CultureInfo.InvariantCulture),
                e.GetProperty("keyId").GetString()!, e.GetProperty("signature").GetString()!);
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException or FormatException)
        {
            return null;
        }
    }
}

/// <summary>
/// The checkpoint signing key: ECDSA P-256, a PKCS#8 PEM file that never goes into the database. Its key id is
/// `p256:` and the first 16 hex digits of SHA-256 of its public key (SubjectPublicKeyInfo DER), so a rotated key
/// has another id and checkpoints say which key signed them.
/// </summary>
public sealed class CheckpointKey : IDisposable
{
    private readonly ECDsa _key;

    private CheckpointKey(ECDsa key, bool canSign)
    {
        _key = key;
        CanSign = canSign;
        KeyId = IdOf(key);
    }

    public string KeyId { get; }
    public bool CanSign { get; }

    public string PublicKeyPem => _key.ExportSubjectPublicKeyInfoPem();

    public static CheckpointKey Generate() => new(ECDsa.Create(ECCurve.NamedCurves.nistP256), canSign: true);

    public string PrivateKeyPem => _key.ExportPkcs8PrivateKeyPem();

    /// <summary>A private key (to sign) or a public key (to check) from a PEM file.</summary>
    public static CheckpointKey Load(string path) => FromPem(File.ReadAllText(path), path);

    /// <summary>A key from one PEM block; <paramref name="source"/> names where it came from in errors.</summary>
    public static CheckpointKey FromPem(string pem, string source)
    {
        var key = ECDsa.Create();
        try
        {
            key.ImportFromPem(pem);
        }
        catch (ArgumentException e)
        {
            key.Dispose();
            throw new InvalidDataException($"{source} holds no ECDSA key in PEM form ({e.Message}).", e);
        }
        if (key.KeySize != 256)
        {
            key.Dispose();
            throw new InvalidDataException($"{source}: the checkpoint key must be ECDSA P-256, not a {key.KeySize}-bit key.");
        }
        return new CheckpointKey(key, canSign: pem.Contains("PRIVATE KEY", StringComparison.Ordinal));
    }

    public Checkpoint Sign(long position, long eventCount, byte[] root, DateTimeOffset at)
    {
        if (!CanSign) throw new InvalidOperationException("This key is a public key: it cannot sign checkpoints.");
        // Microseconds, as the signed text writes the time.
        at = new DateTimeOffset(at.UtcTicks - at.UtcTicks % 10, TimeSpan.Zero);
        var unsigned = new Checkpoint(position, eventCount, Convert.ToHexStringLower(root), at, KeyId, "");
        var signature = _key.SignData(Encoding.UTF8.GetBytes(unsigned.SignedText), HashAlgorithmName.SHA256);
        return unsigned with { Signature = Convert.ToBase64String(signature) };
    }

    /// <summary>Whether this key signed the checkpoint as it stands (any edited field breaks it).</summary>
    public bool Verifies(Checkpoint checkpoint)
    {
        if (checkpoint.KeyId != KeyId) return false;
        Span<byte> signature = stackalloc byte[64];
        return Convert.TryFromBase64String(checkpoint.Signature, signature, out var written) && written == 64
            && _key.VerifyData(Encoding.UTF8.GetBytes(checkpoint.SignedText), signature, HashAlgorithmName.SHA256);
    }

    private static string IdOf(ECDsa key) =>
        "p256:" + Convert.ToHexStringLower(SHA256.HashData(key.ExportSubjectPublicKeyInfo()))[..16];

    public void Dispose() => _key.Dispose();
}

/// <summary>
/// The keys an auditor checks checkpoints with, by key id: one PEM file holding one or more keys (the current public
/// key and those it replaced, one block after another), so that a checkpoint file that spans a key rotation checks
/// line by line with the key each line names.
/// </summary>
public sealed class CheckpointKeys : IDisposable
{
    private readonly Dictionary<string, CheckpointKey> _keys = [];

    public IReadOnlyCollection<string> KeyIds => _keys.Keys;

    public static CheckpointKeys Load(string path)
    {
        var text = File.ReadAllText(path);
        var keys = new CheckpointKeys();
        try
        {
            var rest = text.AsSpan();
            var block = 0;
            while (PemEncoding.TryFind(rest, out var found))
            {
                var key = CheckpointKey.FromPem(rest[found.Location].ToString(), $"{path} (key {++block})");
                if (!keys._keys.TryAdd(key.KeyId, key)) key.Dispose();
                rest = rest[found.Location.End..];
            }
            if (block == 0) throw new InvalidDataException($"{path} holds no ECDSA key in PEM form.");
            return keys;
        }
        catch
        {
            keys.Dispose();
            throw;
        }
    }

    public bool Knows(string keyId) => _keys.ContainsKey(keyId);

    /// <summary>Whether the key the checkpoint names is one of these and signed it as it stands.</summary>
    public bool Verifies(Checkpoint checkpoint) => _keys.TryGetValue(checkpoint.KeyId, out var key) && key.Verifies(checkpoint);

    public void Dispose()
    {
        foreach (var key in _keys.Values) key.Dispose();
    }
}

/// <summary>
/// The checkpoints' file: JSON lines, only ever appended to, each line flushed to disk before the checkpoint is
/// recorded in the database. Keep it where the database's operators cannot rewrite it (docs/operations.md).
/// </summary>
public static class CheckpointFile
{
    public static void Append(string path, Checkpoint checkpoint)
    {
        if (Path.GetDirectoryName(Path.GetFullPath(path)) is { } directory) Directory.CreateDirectory(directory);
        using var file = new FileStream(path, FileMode.Append, FileAccess.Write, FileShare.Read);
        file.Write(Encoding.UTF8.GetBytes(checkpoint.ToJson() + "\n"));
        file.Flush(flushToDisk: true);
    }

    /// <summary>Every line of the file, with its number: a checkpoint, or null where the line is not one.</summary>
    public static IEnumerable<(int Line, Checkpoint? Checkpoint)> Read(string path) =>
        File.ReadLines(path).Select((text, i) => (i + 1, text)).Where(l => l.text.Length > 0).Select(l => (l.Item1, Checkpoint.Parse(l.text)));
}
