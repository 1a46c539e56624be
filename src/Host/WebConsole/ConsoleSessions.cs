using System.Security.Claims;
using System.Security.Cryptography;
using System.Text;
using Ledger.Host.Http;
using Npgsql;

namespace Ledger.Host.WebConsole;

public sealed class ConsoleOptions
{
    /// <summary>A session nobody used for this long is over.</summary>
    public TimeSpan IdleTimeout { get; set; } = TimeSpan.FromMinutes(30);

    /// <summary>A session is over this long after sign-in, however busy.</summary>
    public TimeSpan SessionLifetime { get; set; } = TimeSpan.FromHours(8);
}

/// <summary>
/// Console sessions, in PostgreSQL (Sql/006_console_sessions.sql): an API key signs in once and the browser then holds
/// only a random token in an HttpOnly, SameSite=Strict cookie. The caller a session stands for is the key's, as
/// configured now: a key removed from Ledger:ApiKeys ends its sessions at their next request.
/// </summary>
public sealed class ConsoleSessions(NpgsqlDataSource db, ApiKeyRing keys, Microsoft.Extensions.Options.IOptions<ConsoleOptions> options)
{
    public const string CookieName = "ledger_console";
    public const string CsrfClaim = "console_csrf";

    /// <summary>Opens a session for a key that <see cref="ApiKeyRing.Match"/> found valid; returns the cookie's token.</summary>
    public async Task<string> StartAsync(ApiKey key, CancellationToken ct)
    {
        var token = RandomToken();
        await using var cmd = db.CreateCommand("""
            with expired as (delete from console_sessions where expires_at < now() or last_seen_at < now() - $5::interval)
            insert into console_sessions (token_hash, key_mac, csrf_token, created_at, last_seen_at, expires_at)
            values ($1, $2, $3, now(), now(), now() + $4::interval)
            """);
        cmd.Parameters.Add(new NpgsqlParameter { Value = Hash(token) });
        cmd.Parameters.Add(new NpgsqlParameter { Value = Mac(token, key.Key) });
        cmd.Parameters.Add(new NpgsqlParameter { Value = RandomToken() });
        cmd.Parameters.Add(new NpgsqlParameter { Value = options.Value.SessionLifetime });
        cmd.Parameters.Add(new NpgsqlParameter { Value = options.Value.IdleTimeout });
        await cmd.ExecuteNonQueryAsync(ct);
        return token;
    }

    /// <summary>The caller behind a cookie's token, with the session's CSRF token as a claim; null if the session is over.</summary>
    public async Task<ClaimsPrincipal?> ResumeAsync(string token, string scheme, CancellationToken ct)
    {
        if (token.Length != 43) return null; // 32 random bytes, base64url
        // last_seen_at moves at most once a minute (or half the idle timeout, if shorter): a page and its assets are one
        // visit, not five writes.
        await using var cmd = db.CreateCommand("""
            update console_sessions
            set last_seen_at = case when last_seen_at < now() - least(interval '1 minute', $2::interval / 2) then now() else last_seen_at end
            where token_hash = $1 and expires_at > now() and last_seen_at > now() - $2::interval
            returning key_mac, csrf_token
            """);
        cmd.Parameters.Add(new NpgsqlParameter { Value = Hash(token) });
        cmd.Parameters.Add(new NpgsqlParameter { Value = options.Value.IdleTimeout });
        byte[] keyMac;
        string csrf;
        await using (var reader = await cmd.ExecuteReaderAsync(ct))
        {
            if (!await reader.ReadAsync(ct)) return null;
            (keyMac, csrf) = (reader.GetFieldValue<byte[]>(0), reader.GetString(1));
        }
        var key = keys.Usable.FirstOrDefault(k => CryptographicOperations.FixedTimeEquals(Mac(token, k.Key), keyMac));
        if (key is null) return null;
        var (outcome, _, principal) = keys.Match(key.Key, scheme);
        if (outcome != ApiKeyRing.Outcome.Valid) return null;
        ((ClaimsIdentity)principal!.Identity!).AddClaim(new Claim(CsrfClaim, csrf));
        return principal;
    }

    public async Task EndAsync(string token, CancellationToken ct)
    {
        await using var cmd = db.CreateCommand("delete from console_sessions where token_hash = $1");
        cmd.Parameters.Add(new NpgsqlParameter { Value = Hash(token) });
        await cmd.ExecuteNonQueryAsync(ct);
    }

    public static string RandomToken() => Base64Url(RandomNumberGenerator.GetBytes(32));

    private static byte[] Hash(string token) => SHA256.HashData(Encoding.ASCII.GetBytes(token));

    private static byte[] Mac(string token, string apiKey) => HMACSHA256.HashData(Encoding.ASCII.GetBytes(token), Encoding.UTF8.GetBytes(apiKey));

    private static string Base64Url(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    /// <summary>Constant-time comparison of a form's CSRF token with the expected one.</summary>
    public static bool SameToken(string? given, string? expected) =>
        given is not null && expected is not null && given.Length == expected.Length
        && CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(given), Encoding.ASCII.GetBytes(expected));
}
