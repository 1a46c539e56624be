using System.Collections.Concurrent;
using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
using System.Threading.Channels;
using Ledger.EventStore;
using Microsoft.Extensions.Options;
using Npgsql;
using NpgsqlTypes;

namespace Ledger.Host.Webhooks;

/// <summary>
/// Sends the pending deliveries: signed POSTs, at most <see cref="WebhookOptions.MaxConcurrency"/> in flight and
/// <see cref="WebhookOptions.MaxConcurrencyPerEndpoint"/> per endpoint, each bounded by <see cref="WebhookOptions.Timeout"/>;
/// a failure is retried with exponential backoff and jitter until <see cref="WebhookOptions.RetryFor"/> has passed, then the
/// delivery is dead (listed, and re-sent on request). A payment's deliveries to one endpoint go out in stream order: one
/// waits while an earlier one is pending. A Wolverine singular agent (`ledger-webhooks://`): of the hosts sharing the
/// database exactly one sends, and when it dies another takes over and sends what was pending (at least once: a receiver
/// de-duplicates by the event id). It runs apart from the requests: a slow or dead receiver never holds up a charge.
/// </summary>
public sealed class WebhookDispatcher(
    WebhookDatabase webhooks,
    IConfiguration configuration,
    WebhookSecrets secrets,
    WebhookUrlPolicy policy,
    IOptions<WebhookOptions> options,
    TimeProvider clock,
    ILogger<WebhookDispatcher> logger) : LoopingAgent("ledger-webhooks")
{
    private sealed record Due(
        string Id, string EndpointId, string EventId, string Body, int AttemptCount, DateTime? RetryUntil, string Url, string KeyId, byte[] SealedSecret,
        string? CorrelationId, string? TraceParent);

    private sealed record Attempt(Due Delivery, DateTimeOffset At, int? StatusCode, string? Error, int DurationMs)
    {
        public bool Delivered => StatusCode is >= 200 and < 300;
    }

    private readonly NpgsqlDataSource db = webhooks.Source;
    // Attempts under way (delivery id -> endpoint id): what the concurrency limits count.
    private readonly ConcurrentDictionary<string, string> _inFlight = new();
    // Attempts finished whose result is not recorded yet: not counted, but not fetched again either.
    private readonly ConcurrentDictionary<string, byte> _recording = new();
    private readonly ConcurrentDictionary<string, string> _openedSecrets = new(); // endpoint id -> secret, in memory only
    private readonly SemaphoreSlim _wake = new(0, int.MaxValue);

    protected override async Task RunAsync(CancellationToken stopping)
    {
        var o = options.Value;
        logger.LogInformation("Webhook dispatcher started on this host ({Concurrency} at once, {PerEndpoint} per endpoint)",
            o.MaxConcurrency, o.MaxConcurrencyPerEndpoint);
        using var http = new HttpClient(new SocketsHttpHandler
        {
            AllowAutoRedirect = false,
            UseCookies = false,
            UseProxy = false,
            ConnectCallback = policy.ConnectAsync,
            ConnectTimeout = o.Timeout,
            PooledConnectionLifetime = TimeSpan.FromMinutes(5),
            // Per server, not per endpoint: several endpoints may share a server (each is held to its own share by the count
            // of its attempts in flight, below), and one server's connections must not be fewer than its endpoints' share.
            MaxConnectionsPerServer = o.MaxConcurrency,
        }) { Timeout = Timeout.InfiniteTimeSpan };
        http.DefaultRequestHeaders.UserAgent.ParseAdd("Ledger-Webhooks/2");
        var results = Channel.CreateUnbounded<Attempt>(new UnboundedChannelOptions { SingleReader = true });
        var listening = ListenAsync(stopping);
        var recording = RecordAsync(results.Reader, stopping);
        while (!stopping.IsCancellationRequested)
        {
            try
            {
                foreach (var due in await FetchDueAsync(stopping))
                {
                    if (_inFlight.Count >= o.MaxConcurrency) break;
                    if (_inFlight.Count(f => f.Value == due.EndpointId) >= o.MaxConcurrencyPerEndpoint) continue;
                    if (!_inFlight.TryAdd(due.Id, due.EndpointId)) continue;
                    _ = SendAsync(http, due, results.Writer, stopping);
                }
            }
            catch (Exception e) when (e is NpgsqlException or TimeoutException)
            {
                logger.LogWarning("Webhook dispatch paused: database unavailable ({Message})", e.Message);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                logger.LogError(e, "Webhook dispatch failed; it tries again shortly");
            }
            try
            {
                await _wake.WaitAsync(o.PollEvery, stopping);
            }
            catch (OperationCanceledException)
            {
                break;
            }
            // One fetch answers the wake-ups of the next 20 ms (finished attempts, new deliveries): at most 50 fetches a second.
            try
            {
                await Task.Delay(TimeSpan.FromMilliseconds(20), stopping);
            }
            catch (OperationCanceledException)
            {
                break;
            }
            while (_wake.CurrentCount > 0) await _wake.WaitAsync(CancellationToken.None);
        }
        results.Writer.TryComplete();
        await Task.WhenAll(listening, recording);
    }

    /// <summary>Due, pending deliveries of live endpoints, not in flight here, with no earlier pending event of the same payment for the same endpoint.</summary>
    private async Task<List<Due>> FetchDueAsync(CancellationToken ct)
    {
        var o = options.Value;
        var room = o.MaxConcurrency - _inFlight.Count;
        if (room <= 0) return [];
        // One index probe per live endpoint (webhook_deliveries_due: endpoint, time, pending only), at most a few rows each, so
        // a backlog of thousands (a receiver that was down) costs no more than a few; the oldest due first across endpoints.
        await using var cmd = db.CreateCommand("""
            select d.id, d.endpoint_id, d.event_id, d.body, d.attempt_count, d.retry_until, e.url, e.secret_key_id, e.secret_sealed,
                   d.correlation_id, d.traceparent
            from webhook_endpoints e
            cross join lateral (
                select d.* from webhook_deliveries d
                where d.endpoint_id = e.id and d.status = 'pending' and d.next_attempt_at <= $1 and d.id <> all($2)
                  -- the earliest pending event of its payment for this endpoint (one index probe: webhook_deliveries_in_order)
                  and d.version = (select min(earlier.version) from webhook_deliveries earlier
                                   where earlier.endpoint_id = d.endpoint_id and earlier.payment_id = d.payment_id and earlier.status = 'pending')
                order by d.next_attempt_at
                limit $3) d
            where e.deleted_at is null
            order by d.next_attempt_at
            limit $4
            """);
        cmd.Parameters.Add(new NpgsqlParameter<DateTime> { TypedValue = clock.Now().UtcDateTime, NpgsqlDbType = NpgsqlDbType.TimestampTz });
        cmd.Parameters.Add(new NpgsqlParameter<string[]> { TypedValue = [.. _inFlight.Keys, .. _recording.Keys] });
        cmd.Parameters.Add(new NpgsqlParameter<int> { TypedValue = o.MaxConcurrencyPerEndpoint });
        cmd.Parameters.Add(new NpgsqlParameter<int> { TypedValue = room });
        var due = new List<Due>();
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct))
            due.Add(new Due(reader.GetString(0), reader.GetString(1), reader.GetString(2), reader.GetString(3), reader.GetInt32(4),
                reader.IsDBNull(5) ? null : reader.GetDateTime(5), reader.GetString(6), reader.GetString(7), reader.GetFieldValue<byte[]>(8),
                reader.IsDBNull(9) ? null : reader.GetString(9), reader.IsDBNull(10) ? null : reader.GetString(10)));
        return due;
    }

    private async Task SendAsync(HttpClient http, Due due, ChannelWriter<Attempt> results, CancellationToken stopping)
    {
        await Task.Yield();
        // Each attempt a span in the trace of the request that wrote the event (its traceparent, kept with the delivery);
        // HttpClient's span under it sends the receiver a traceparent of the same trace.
        using var span = LedgerActivity.Source.StartActivity("ledger.webhook.deliver", ActivityKind.Producer,
            ActivityContext.TryParse(due.TraceParent, null, isRemote: true, out var parent) ? parent : default);
        span?.SetTag("ledger.webhook.delivery_id", due.Id);
        span?.SetTag("ledger.webhook.event_id", due.EventId);
        span?.SetTag("ledger.webhook.attempt", due.AttemptCount + 1);
        var started = clock.GetTimestamp();
        var at = clock.Now();
        int? status = null;
        string? error = null;
        try
        {
            var secret = _openedSecrets.GetOrAdd(due.EndpointId, id => secrets.Open(due.KeyId, due.SealedSecret, id));
            using var request = new HttpRequestMessage(HttpMethod.Post, due.Url)
            {
                Content = new StringContent(due.Body, Encoding.UTF8, "application/json"),
            };
            request.Headers.TryAddWithoutValidation(WebhookSignature.Header, WebhookSignature.Sign(secret, clock.GetUtcNow().ToUnixTimeSeconds(), due.Body));
            request.Headers.TryAddWithoutValidation("Ledger-Event-Id", due.EventId);
            request.Headers.TryAddWithoutValidation("Ledger-Delivery-Id", due.Id);
            if (due.CorrelationId is { } correlation) request.Headers.TryAddWithoutValidation(Http.CorrelationId.Header, correlation);
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(stopping);
            timeout.CancelAfter(options.Value.Timeout);
            using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, timeout.Token);
            status = (int)response.StatusCode;
        }
        catch (OperationCanceledException) when (!stopping.IsCancellationRequested)
        {
            error = $"No answer within {options.Value.Timeout.TotalSeconds:0.###} s.";
        }
        catch (HttpRequestException e)
        {
            error = e.InnerException is { } inner && !e.Message.Contains(inner.Message, StringComparison.Ordinal) ? $"{e.Message} ({inner.Message})" : e.Message;
        }
        catch (CryptographicException e)
        {
            error = "The endpoint's signing secret could not be opened on this host: " + e.Message;
        }
        catch (OperationCanceledException)
        {
            // The host is stopping: nothing is recorded, the delivery stays pending, and whoever sends next sends it.
            _inFlight.TryRemove(due.Id, out _);
            return;
        }
        var elapsed = (int)Math.Min(int.MaxValue, clock.GetElapsedTime(started).TotalMilliseconds);
        if (status is { } code) span?.SetTag("http.response.status_code", code);
        if (status is not (>= 200 and < 300)) span?.SetStatus(ActivityStatusCode.Error, error is null ? $"HTTP {status}" : "no answer");
        // The slot is free for the next attempt now; the delivery is not fetched again until its result is recorded.
        _recording[due.Id] = 0;
        _inFlight.TryRemove(due.Id, out _);
        _wake.Release();
        if (!results.TryWrite(new Attempt(due, at, status, error is { Length: > 500 } ? error[..500] : error, elapsed)))
            _recording.TryRemove(due.Id, out _);
    }

    /// <summary>
    /// Writes finished attempts, as many as have gathered, in one transaction; then frees their slots. While the database is
    /// down it keeps trying (the slots stay taken, so nothing is sent twice meanwhile); a batch it cannot write for any other
    /// reason is logged and let go: those deliveries stay pending and are sent again (at least once).
    /// </summary>
    private async Task RecordAsync(ChannelReader<Attempt> results, CancellationToken stopping)
    {
        var batch = new List<Attempt>();
        while (await results.WaitToReadAsync(CancellationToken.None))
        {
            while (batch.Count < 500 && results.TryRead(out var attempt)) batch.Add(attempt);
            while (true)
            {
                try
                {
                    await WriteAsync(batch, CancellationToken.None);
                    break;
                }
                catch (Exception e) when (e is NpgsqlException or TimeoutException && !stopping.IsCancellationRequested)
                {
                    logger.LogWarning("Webhook attempts not recorded yet: database unavailable ({Message})", e.Message);
                    await Task.Delay(TimeSpan.FromSeconds(1), CancellationToken.None);
                }
                catch (Exception e) when (e is NpgsqlException or TimeoutException)
                {
                    break; // stopping: they stay pending and are sent again by whoever sends next
                }
                catch (Exception e)
                {
                    logger.LogError(e, "Could not record {Count} webhook attempts; those deliveries stay pending and will be sent again", batch.Count);
                    break;
                }
            }
            foreach (var a in batch) _recording.TryRemove(a.Delivery.Id, out _);
            batch.Clear();
            _wake.Release();
        }
    }

    private async Task WriteAsync(List<Attempt> attempts, CancellationToken ct)
    {
        var o = options.Value;
        var now = clock.Now();
        var outcomes = attempts.Select(a =>
        {
            // The retry window opens with the first failure of a series (a new delivery's, or the first after a retry on request).
            var retryUntil = a.Delivery.RetryUntil ?? (a.At + o.RetryFor).UtcDateTime;
            if (a.Delivered) return (Status: "delivered", Next: (DateTime?)null, RetryUntil: a.Delivery.RetryUntil);
            if (now.UtcDateTime >= retryUntil) return ("dead", null, retryUntil);
            var next = (now + Backoff(a.Delivery.AttemptCount + 1, o)).UtcDateTime;
            return ("pending", next < retryUntil ? next : retryUntil, retryUntil);
        }).ToList();
        foreach (var (a, outcome) in attempts.Zip(outcomes))
            if (outcome.Status == "dead")
                logger.LogWarning("Webhook delivery {DeliveryId} of {EventId} to endpoint {EndpointId} is dead after {Attempts} attempts (last: {Last})",
                    a.Delivery.Id, a.Delivery.EventId, a.Delivery.EndpointId, a.Delivery.AttemptCount + 1, a.StatusCode?.ToString() ?? a.Error);

        await using var batch = db.CreateBatch();
        var update = new NpgsqlBatchCommand("""
            update webhook_deliveries d
            set status = r.status, attempt_count = r.attempt, next_attempt_at = r.next_attempt_at, last_status_code = r.status_code,
                last_error = r.error, delivered_at = case when r.status = 'delivered' then r.at else d.delivered_at end,
                retry_until = r.retry_until
            from unnest($1::text[], $2::int[], $3::text[], $4::timestamptz[], $5::int[], $6::text[], $7::timestamptz[], $8::timestamptz[])
                as r (id, attempt, status, next_attempt_at, status_code, error, at, retry_until)
            where d.id = r.id and d.status = 'pending' and d.attempt_count = r.attempt - 1
            """);
        var insert = new NpgsqlBatchCommand("""
            insert into webhook_attempts (delivery_id, attempt, at, status_code, error, duration_ms)
            select * from unnest($1::text[], $2::int[], $3::timestamptz[], $4::int[], $5::text[], $6::int[])
            on conflict do nothing
            """);
        var ids = attempts.Select(a => a.Delivery.Id).ToArray();
        var numbers = attempts.Select(a => a.Delivery.AttemptCount + 1).ToArray();
        var codes = attempts.Select(a => a.StatusCode).ToArray();
        var errors = attempts.Select(a => a.Error ?? (a.Delivered ? null : $"HTTP {a.StatusCode}")).ToArray();
        var times = attempts.Select(a => a.At.UtcDateTime).ToArray();
        update.Parameters.Add(new NpgsqlParameter<string[]> { TypedValue = ids });
        update.Parameters.Add(new NpgsqlParameter<int[]> { TypedValue = numbers });
        update.Parameters.Add(new NpgsqlParameter<string[]> { TypedValue = outcomes.Select(x => x.Status).ToArray() });
        update.Parameters.Add(new NpgsqlParameter { Value = outcomes.Select(x => x.Next).ToArray(), NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.TimestampTz });
        update.Parameters.Add(new NpgsqlParameter { Value = codes, NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Integer });
        update.Parameters.Add(new NpgsqlParameter { Value = errors, NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Text });
        update.Parameters.Add(new NpgsqlParameter { Value = times, NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.TimestampTz });
        update.Parameters.Add(new NpgsqlParameter { Value = outcomes.Select(x => x.RetryUntil).ToArray(), NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.TimestampTz });
        insert.Parameters.Add(new NpgsqlParameter<string[]> { TypedValue = ids });
        insert.Parameters.Add(new NpgsqlParameter<int[]> { TypedValue = numbers });
        insert.Parameters.Add(new NpgsqlParameter { Value = times, NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.TimestampTz });
        insert.Parameters.Add(new NpgsqlParameter { Value = codes, NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Integer });
        insert.Parameters.Add(new NpgsqlParameter { Value = attempts.Select(a => a.Error).ToArray(), NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Text });
        insert.Parameters.Add(new NpgsqlParameter<int[]> { TypedValue = attempts.Select(a => a.DurationMs).ToArray() });
        batch.BatchCommands.Add(update);
        batch.BatchCommands.Add(insert);
        await batch.ExecuteNonQueryAsync(ct);
    }

    /// <summary>
    /// The wait after the <paramref name="failures"/>-th failure: <see cref="WebhookOptions.FirstRetryAfter"/> doubled per
    /// failure, capped at <see cref="WebhookOptions.MaxRetryInterval"/>, then between half and all of that at random, so the
    /// retries of many deliveries that failed together (a receiver that was down) do not arrive together.
    /// </summary>
    public static TimeSpan Backoff(int failures, WebhookOptions o)
    {
        var exponential = o.FirstRetryAfter.TotalMilliseconds * Math.Pow(2, Math.Min(failures - 1, 30));
        var capped = Math.Min(exponential, o.MaxRetryInterval.TotalMilliseconds);
        return TimeSpan.FromMilliseconds(capped / 2 + Random.Shared.NextDouble() * capped / 2);
    }

    /// <summary>LISTEN on the fan-out's channel, on a connection of its own (never a pooled one), re-opened if it drops.</summary>
    private async Task ListenAsync(CancellationToken stopping)
    {
        var connectionString = new NpgsqlConnectionStringBuilder(configuration.GetConnectionString("Ledger"))
        {
            Pooling = false, ApplicationName = "ledger-webhooks-listen", KeepAlive = 30,
        }.ConnectionString;
        while (!stopping.IsCancellationRequested)
        {
            try
            {
                await using var connection = new NpgsqlConnection(connectionString);
                await connection.OpenAsync(stopping);
                connection.Notification += (_, _) => _wake.Release();
                await using (var listen = new NpgsqlCommand($"listen {WebhookFanOut.Channel}", connection))
                    await listen.ExecuteNonQueryAsync(stopping);
                _wake.Release(); // whatever was written while nobody listened
                while (!stopping.IsCancellationRequested) await connection.WaitAsync(stopping);
            }
            catch (OperationCanceledException) when (stopping.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e) when (e is NpgsqlException or TimeoutException or IOException)
            {
                try
                {
                    await Task.Delay(TimeSpan.FromSeconds(1), stopping);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }
        }
    }
}
