using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Ledger.Host.Http;

public sealed class IdempotencyOptions
{
    /// <summary>How long a key is remembered. At least 24 hours by contract.</summary>
    public TimeSpan Retention { get; set; } = TimeSpan.FromHours(24);

    /// <summary>How long the first request owns a key before a retry or the sweep may take it over.</summary>
    public TimeSpan Lease { get; set; } = TimeSpan.FromSeconds(30);
}

/// <summary>A key is scoped to (merchant, endpoint): two merchants may use the same key.</summary>
public sealed record IdempotencyScope(string MerchantId, string Endpoint, string Key);

/// <summary>The answer given the first time, replayed byte for byte.</summary>
public sealed record StoredResponse(int Status, string Body, string? Location);

public abstract record ExistingKey
{
    private ExistingKey() { }
    public sealed record Completed(StoredResponse Response) : ExistingKey;
    public sealed record InUse : ExistingKey;
    public sealed record Reused : ExistingKey;
    public sealed record Expired : ExistingKey;
    /// <summary>No record at all: never used, or pruned. Nothing to forget before claiming it.</summary>
    public sealed record Free : ExistingKey;
    /// <summary>The owner's lease ran out; this caller now owns the key and must finish the work.</summary>
    public sealed record TakenOver(string ResourceId) : ExistingKey;
}

public sealed class Idempotency(NpgsqlDataSource dataSource, TimeProvider clock, IOptions<IdempotencyOptions> options, Secrets secrets, SynchronousStandby standby)
{
    public const string Header = "Idempotency-Key";
    public const string ReplayedHeader = "Idempotent-Replayed";

    /// <summary>The Idempotency-Key header: 1-255 printable ASCII characters, bare or as an RFC 8941 string.</summary>
    public static string ParseKey(HttpRequest request)
    {
        var values = request.Headers[Header];
        if (values.Count == 0 || string.IsNullOrEmpty(values[0]))
            throw new ApiProblem(400, "idempotency_key_missing", "Idempotency-Key is required.",
                "Send an Idempotency-Key header (1-255 printable ASCII characters) so a retry never charges twice.");
        var raw = values.Count == 1 ? values[0]! : null;
        // A value that opens with a quote is an RFC 8941 string and must be a well-formed one.
        var key = raw is { Length: > 0 } && raw[0] == '"'
            ? raw.Length >= 2 && raw[^1] == '"' ? Unquote(raw[1..^1]) : null
            : raw;
        if (key is null || key.Length is < 1 or > 255 || !key.All(c => c is >= ' ' and <= '~') || key != key.Trim())
            throw new ApiProblem(400, "idempotency_key_invalid", "Idempotency-Key is malformed.",
                "An Idempotency-Key is 1-255 printable ASCII characters, optionally as a quoted string.");
        return key;
    }

    // RFC 8941 sf-string: only \" and \\ are escapes; any other backslash makes it malformed.
    private static string? Unquote(string inner)
    {
        var sb = new StringBuilder(inner.Length);
        for (var i = 0; i < inner.Length; i++)
        {
            var c = inner[i];
            if (c == '"') return null;
            if (c == '\\')
            {
                if (i + 1 >= inner.Length || inner[i + 1] is not ('"' or '\\')) return null;
                c = inner[++i];
            }
            sb.Append(c);
        }
        return sb.ToString();
    }

    /// <summary>
    /// Same request = same method, path and canonical body (keys sorted, no whitespace). Keyed HMAC, because the
    /// body holds a card number and a plain hash of one can be reversed by brute force.
    /// </summary>
    public byte[] Fingerprint(HttpRequest request, byte[] body) => Fingerprint(request.Method, request.Path, body);

    /// <summary>The same, given the HTTP method and path the request is (gRPC's calls name the HTTP endpoint they share keys with).</summary>
    public byte[] Fingerprint(string method, string path, byte[] body)
    {
        var canonical = Ledger.EventStore.CanonicalJson.Of(JsonNode.Parse(body));
        var text = $"{method}\n{path}\n{canonical}";
        return HMACSHA256.HashData(secrets.FingerprintKey, Encoding.UTF8.GetBytes(text));
    }

    public DateTimeOffset LeaseUntil(DateTimeOffset now) => now + options.Value.Lease;

    /// <summary>How often a write is tried again after losing its claim to a key that then turned out free.</summary>
    private const int MaxWrites = 20;

    /// <summary>
    /// The idempotency protocol of one write, all of it here. A key seen before is answered from its record: the
    /// first answer replayed byte for byte, 422 for another request under the key, 409 while its owner is at work,
    /// and an owner whose lease ran out taken over and its work finished (<paramref name="resume"/>). Otherwise
    /// <paramref name="write"/> runs, and claims the key in its own first append (<see cref="Claim"/>, or
    /// <see cref="Remember"/> when the write is one transaction): two first requests racing past the look meet at
    /// the key's unique index, and the loser is answered like a repeat (or writes again if the winner rolled back).
    /// From the look on the work is finished even if the client goes away: money may move.
    /// </summary>
    /// <param name="write">The first time: appends (claiming the key) and returns the answer to remember.</param>
    /// <param name="resume">Finishes the work of an owner that died (the payment id it was working on).</param>
    /// <returns>The answer as stored (HTTP status and JSON), and whether it is a replay: each door (HTTP, gRPC) answers with it its own way.</returns>
    public async Task<(StoredResponse Answer, bool Replayed)> RunAsync(IdempotencyScope scope, byte[] fingerprint,
        Func<CancellationToken, Task<StoredResponse>> write, Func<string, CancellationToken, Task<StoredResponse>>? resume = null)
    {
        var ct = CancellationToken.None;
        // The look: a read (and at most a conditional take-over), safe to repeat on a transient error like the store's
        // reads. A key used before is answered from it without appending anything.
        ExistingKey existing;
        using (var look = Ledger.EventStore.LedgerActivity.Start("ledger.idempotency.look"))
        {
            existing = await Ledger.EventStore.TransientRetry.RunAsync(() => ResolveAsync(scope, fingerprint, ct), ct);
            look?.SetTag("ledger.idempotency.key", StateOf(existing));
        }
        for (var attempt = 1; ; attempt++)
        {
            switch (existing)
            {
                case ExistingKey.Completed done:
                    return (done.Response, true);
                case ExistingKey.Reused:
                    throw KeyReused();
                case ExistingKey.TakenOver taken when resume is not null:
                    standby.EnsureWritable();
                    return (await resume(taken.ResourceId, ct), true);
                case ExistingKey.Free when attempt <= MaxWrites:
                    break; // never used or pruned (the usual new request), or the claim that beat ours rolled back
                case ExistingKey.Expired when attempt <= MaxWrites && await ForgetIfExpiredAsync(scope, ct):
                    break; // past retention a completed key counts as new; an in-flight one is the sweep's
                default:
                    throw KeyInUse(); // its owner is at work: retry shortly
            }
            standby.EnsureWritable(); // a replay above is answered whatever the standby; a write may be refused without one
            try
            {
                return (await write(ct), false);
            }
            catch (PostgresException e) when (IsClaimConflict(e))
            {
                existing = await ResolveAsync(scope, fingerprint, ct);
            }
        }
    }

    /// <summary>What the look found, as a span tag: new, completed (a replay), reused, in_use, expired or taken_over.</summary>
    private static string StateOf(ExistingKey key) => key switch
    {
        ExistingKey.Free => "new",
        ExistingKey.Completed => "completed",
        ExistingKey.Reused => "reused",
        ExistingKey.InUse => "in_use",
        ExistingKey.Expired => "expired",
        ExistingKey.TakenOver => "taken_over",
        _ => "unknown",
    };

    public static ApiProblem KeyReused() => new(422, "idempotency_key_reused", "Idempotency-Key reused.",
        "This Idempotency-Key was used with a different request. Use a new key for a new request.");

    public static ApiProblem KeyInUse() => new(409, "idempotency_key_in_use", "Idempotency-Key in use.",
        "A request with this Idempotency-Key is still being processed. Retry shortly.") { RetryAfterSeconds = 1 };

    /// <summary>Claims the key inside the append's batch. A second claim fails the whole batch (unique violation).</summary>
    public NpgsqlBatchCommand Claim(IdempotencyScope scope, byte[] fingerprint, string resourceId, DateTimeOffset now)
    {
        var cmd = new NpgsqlBatchCommand("""
            insert into idempotency_keys (merchant_id, endpoint, key, fingerprint, resource_id, status, locked_until, created_at, expires_at)
            values ($1, $2, $3, $4, $5, 'in_flight', $6, $7, $8)
            """);
        Add(cmd, scope.MerchantId, scope.Endpoint, scope.Key, fingerprint, resourceId,
            LeaseUntil(now).UtcDateTime, now.UtcDateTime, (now + options.Value.Retention).UtcDateTime);
        return cmd;
    }

    /// <summary>Claims the key and stores its answer at once: for requests that finish in one transaction.</summary>
    public NpgsqlBatchCommand Remember(IdempotencyScope scope, byte[] fingerprint, string resourceId, StoredResponse response, DateTimeOffset now)
    {
        var cmd = new NpgsqlBatchCommand("""
            insert into idempotency_keys (merchant_id, endpoint, key, fingerprint, resource_id, status,
                response_status, response_body, response_location, locked_until, created_at, expires_at)
            values ($1, $2, $3, $4, $5, 'completed', $6, $7, $8, $9, $9, $10)
            """);
        Add(cmd, scope.MerchantId, scope.Endpoint, scope.Key, fingerprint, resourceId, response.Status, response.Body,
            (object?)response.Location ?? DBNull.Value, now.UtcDateTime, (now + options.Value.Retention).UtcDateTime);
        return cmd;
    }

    public static bool IsClaimConflict(PostgresException e) =>
        e is { SqlState: PostgresErrorCodes.UniqueViolation, ConstraintName: "idempotency_keys_pkey" };

    /// <summary>Stores the final answer in the batch that appends the final events.</summary>
    public static NpgsqlBatchCommand Complete(IdempotencyScope scope, StoredResponse response)
    {
        var cmd = new NpgsqlBatchCommand("""
            update idempotency_keys set status = 'completed', response_status = $4, response_body = $5, response_location = $6
            where merchant_id = $1 and endpoint = $2 and key = $3 and status = 'in_flight'
            """);
        Add(cmd, scope.MerchantId, scope.Endpoint, scope.Key, response.Status, response.Body, (object?)response.Location ?? DBNull.Value);
        return cmd;
    }

    /// <summary>What to do about a key someone already claimed.</summary>
    public async Task<ExistingKey> ResolveAsync(IdempotencyScope scope, byte[] fingerprint, CancellationToken ct)
    {
        var now = clock.GetUtcNow();
        DateTimeOffset lockedUntil;
        string resourceId;
        // The reader (and with it the pooled connection) is closed once, at the end of this block, before the
        // take-over asks for a connection of its own. v1 also disposed it by hand inside the block: a data-source
        // command's reader returns its connection to the pool on each dispose, so one connection went back twice
        // and two requests were later handed it at once ("A command is already in progress", answered 500).
        await using (var cmd = dataSource.CreateCommand("""
            select fingerprint, status, response_status, response_body, response_location, locked_until, expires_at, resource_id
            from idempotency_keys where merchant_id = $1 and endpoint = $2 and key = $3
            """))
        {
            Add(cmd, scope.MerchantId, scope.Endpoint, scope.Key);
            await using var reader = await cmd.ExecuteReaderAsync(ct);
            if (!await reader.ReadAsync(ct)) return new ExistingKey.Free(); // never used, or pruned
            var storedFingerprint = reader.GetFieldValue<byte[]>(0);
            var expiresAt = reader.GetFieldValue<DateTimeOffset>(6);
            if (expiresAt <= now) return new ExistingKey.Expired();
            if (!CryptographicOperations.FixedTimeEquals(storedFingerprint, fingerprint)) return new ExistingKey.Reused();
            if (reader.GetString(1) == "completed")
                return new ExistingKey.Completed(new StoredResponse(reader.GetInt32(2), reader.GetString(3), reader.IsDBNull(4) ? null : reader.GetString(4)));
            lockedUntil = reader.GetFieldValue<DateTimeOffset>(5);
            resourceId = reader.GetString(7);
        }
        if (lockedUntil > now) return new ExistingKey.InUse();
        return await TryTakeOverAsync(scope, now, ct) ? new ExistingKey.TakenOver(resourceId) : new ExistingKey.InUse();
    }

    /// <summary>Takes an in-flight key whose lease ran out. Only one contender wins the update.</summary>
    public async Task<bool> TryTakeOverAsync(IdempotencyScope scope, DateTimeOffset now, CancellationToken ct)
    {
        await using var cmd = dataSource.CreateCommand("""
            update idempotency_keys set locked_until = $4
            where merchant_id = $1 and endpoint = $2 and key = $3 and status = 'in_flight' and locked_until <= $5
            """);
        Add(cmd, scope.MerchantId, scope.Endpoint, scope.Key, LeaseUntil(now).UtcDateTime, now.UtcDateTime);
        return await cmd.ExecuteNonQueryAsync(ct) == 1;
    }

    /// <summary>Forgets one expired, completed key so it counts as new (true). An in-flight one is the sweep's to finish first.</summary>
    public async Task<bool> ForgetIfExpiredAsync(IdempotencyScope scope, CancellationToken ct)
    {
        await using var cmd = dataSource.CreateCommand("""
            delete from idempotency_keys where merchant_id = $1 and endpoint = $2 and key = $3 and expires_at <= $4 and status = 'completed'
            """);
        Add(cmd, scope.MerchantId, scope.Endpoint, scope.Key, clock.GetUtcNow().UtcDateTime);
        return await cmd.ExecuteNonQueryAsync(ct) == 1;
    }

    /// <summary>Forgets every expired, completed key. An in-flight one is left for the sweep to finish.</summary>
    public async Task<int> PruneAsync(CancellationToken ct)
    {
        await using var cmd = dataSource.CreateCommand("delete from idempotency_keys where expires_at <= $1 and status = 'completed'");
        Add(cmd, clock.GetUtcNow().UtcDateTime);
        return await cmd.ExecuteNonQueryAsync(ct);
    }

    private static void Add(NpgsqlBatchCommand cmd, params object[] values) => Add(cmd.Parameters, values);

    private static void Add(NpgsqlCommand cmd, params object[] values) => Add(cmd.Parameters, values);

    private static void Add(NpgsqlParameterCollection parameters, object[] values)
    {
        foreach (var v in values) parameters.Add(new NpgsqlParameter { Value = v });
    }
}

/// <summary>Answers with a stored response; a replay says so in Idempotent-Replayed.</summary>
public sealed class StoredResponseResult(StoredResponse response, bool replayed) : IResult
{
    public Task ExecuteAsync(HttpContext context)
    {
        context.Response.StatusCode = response.Status;
        context.Response.ContentType = response.Status >= 400 ? Problems.ContentType : "application/json";
        if (response.Location is not null) context.Response.Headers.Location = response.Location;
        if (replayed) context.Response.Headers[Idempotency.ReplayedHeader] = "true";
        return context.Response.WriteAsync(response.Body, context.RequestAborted);
    }
}
