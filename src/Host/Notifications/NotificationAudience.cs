using System.Collections.Frozen;
using Ledger.Host.Webhooks;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Ledger.Host.Notifications;

/// <summary>
/// Who listens to payment notifications, so that an append publishes one only where it will be used: every event when
/// the broker is on; otherwise the events of merchants with a live webhook endpoint. A notification costs an envelope
/// stored in the append's transaction and handled after it (about a sixth of a charge's rate, docs/benchmarks.md), so a
/// merchant without endpoints should not pay for it.
/// <para>
/// Each host keeps the set of merchants with endpoints, read again every <see cref="WebhookOptions.AudienceRefresh"/>
/// (<see cref="Refresh"/>). The host that creates an endpoint adds its merchant at once; the other hosts learn of it at
/// their next read, so an endpoint receives the events committed after its creation through that host, and through the
/// others after at most one refresh interval (docs/api.md: events in between are not sent to it). Until
/// the first read succeeds, and whenever the set cannot be read, the last known set stands; before any, every event is
/// published: too many notifications cost time, too few lose deliveries.
/// </para>
/// </summary>
public sealed class NotificationAudience(bool everyone)
{
    private readonly Lock _gate = new();
    private volatile FrozenSet<string>? _merchants; // null: not read yet, so everyone
    private readonly Dictionary<string, long> _addedAt = [];

    /// <summary>The broker is on: every event goes to the broker's exchange, whoever has endpoints.</summary>
    public bool Everyone { get; } = everyone;

    public bool Listens(string merchantId) => Everyone || _merchants is not { } merchants || merchants.Contains(merchantId);

    /// <summary>This host created an endpoint for the merchant: its events are published from now on.</summary>
    public void Add(string merchantId)
    {
        lock (_gate)
        {
            _addedAt[merchantId] = Environment.TickCount64;
            if (_merchants is { } merchants && !merchants.Contains(merchantId)) _merchants = merchants.Append(merchantId).ToFrozenSet();
        }
    }

    /// <summary>
    /// The set as read by a query started at <paramref name="readStartedAt"/> (Environment.TickCount64): a merchant added
    /// by this host since then may be missing from what the query saw, so it is kept.
    /// </summary>
    public void Replace(IEnumerable<string> merchants, long readStartedAt)
    {
        lock (_gate)
        {
            var set = merchants.ToHashSet(StringComparer.Ordinal);
            foreach (var (merchant, at) in _addedAt.ToList())
            {
                if (at >= readStartedAt) set.Add(merchant);
                else _addedAt.Remove(merchant);
            }
            _merchants = set.ToFrozenSet(StringComparer.Ordinal);
        }
    }

    /// <summary>Reads the merchants with live endpoints every AudienceRefresh, on every host (a read of a few rows).</summary>
    public sealed class Refresh(
        NotificationAudience audience, WebhookDatabase database, IOptions<WebhookOptions> options, ILogger<Refresh> logger) : BackgroundService
    {
        protected override async Task ExecuteAsync(CancellationToken stoppingToken)
        {
            if (audience.Everyone) return;
            var failing = false;
            using var timer = new PeriodicTimer(options.Value.AudienceRefresh);
            do
            {
                var startedAt = Environment.TickCount64;
                try
                {
                    await using var cmd = database.Source.CreateCommand(
                        "select distinct merchant_id from webhook_endpoints where deleted_at is null");
                    await using var reader = await cmd.ExecuteReaderAsync(stoppingToken);
                    var merchants = new List<string>();
                    while (await reader.ReadAsync(stoppingToken)) merchants.Add(reader.GetString(0));
                    audience.Replace(merchants, startedAt);
                    if (failing) logger.LogInformation("Webhook endpoints read again: notifications follow them");
                    failing = false;
                }
                catch (Exception e) when (!stoppingToken.IsCancellationRequested && e is NpgsqlException or TimeoutException or InvalidOperationException)
                {
                    // Before the start-up migration has built the table, or while the database is away: keep the last set.
                    if (!failing) logger.LogWarning("Cannot read the webhook endpoints ({Reason}): notifications follow the last set read", e.Message);
                    failing = true;
                }
            }
            while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false));
        }
    }
}
