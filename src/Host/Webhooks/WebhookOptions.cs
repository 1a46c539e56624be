namespace Ledger.Host.Webhooks;

/// <summary>Section Ledger:Webhooks (docs/operations.md). The URL rules default by environment: see <see cref="WebhookUrlPolicy"/>.</summary>
public sealed class WebhookOptions
{
    /// <summary>Plain http URLs. Default: only in Development (for a receiver on this machine).</summary>
    public bool? AllowHttp { get; set; }
    /// <summary>Loopback, private, link-local and other non-public addresses. Default: only in Development.</summary>
    public bool? AllowPrivateNetworks { get; set; }
    /// <summary>Host names refused whatever they resolve to: an exact name, or ".example.com" for a domain and its subdomains.</summary>
    public List<string> DeniedHosts { get; set; } = [];
    /// <summary>If any, the only host names allowed (same forms as <see cref="DeniedHosts"/>); the other rules still apply.</summary>
    public List<string> AllowedHosts { get; set; } = [];
    /// <summary>How long one attempt may take, connect to last byte of the answer's headers.</summary>
    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(10);
    /// <summary>How long a delivery is retried before it is dead-lettered (at least 24 h in production).</summary>
    public TimeSpan RetryFor { get; set; } = TimeSpan.FromHours(24);
    /// <summary>The wait after the first failure; it doubles with each failure (with jitter), up to <see cref="MaxRetryInterval"/>.</summary>
    public TimeSpan FirstRetryAfter { get; set; } = TimeSpan.FromSeconds(10);
    public TimeSpan MaxRetryInterval { get; set; } = TimeSpan.FromHours(1);
    /// <summary>Attempts in flight at once, in all, and to any one endpoint (so one slow receiver cannot hold up the rest).</summary>
    public int MaxConcurrency { get; set; } = 64;
    public int MaxConcurrencyPerEndpoint { get; set; } = 4;
    /// <summary>How often the dispatcher looks for due retries when nothing wakes it.</summary>
    public TimeSpan PollEvery { get; set; } = TimeSpan.FromSeconds(1);
    /// <summary>How often each host reads which merchants have endpoints (NotificationAudience): the longest a new endpoint waits for events charged through another host.</summary>
    public TimeSpan AudienceRefresh { get; set; } = TimeSpan.FromSeconds(1);
    public int MaxEndpointsPerMerchant { get; set; } = 16;
}
