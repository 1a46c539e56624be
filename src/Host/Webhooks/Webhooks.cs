using Ledger.Host.Notifications;
using Npgsql;
using Wolverine;

namespace Ledger.Host.Webhooks;

/// <summary>
/// The fan-out's and the dispatcher's connections: a pool of their own (`ledger-webhooks`) whose commits do not wait for
/// the WAL to reach the disk (<c>synchronous_commit=off</c>). What they write can be lost only in a crash of PostgreSQL
/// itself, and then it is done again: a fan-out commit is always followed by Wolverine's (synchronous) commit marking its
/// notifications handled, which flushes the WAL up to and past it, so a lost fan-out leaves its notifications to be
/// handled again; a lost attempt leaves its delivery pending, to be sent again (at least once, as always). Waiting for
/// the disk there held the dispatcher's slots for as long as a WAL flush took (seconds, under load, on a slow disk).
/// The API's own writes to these tables (endpoints created, deleted, deliveries retried) stay on the main pool.
/// </summary>
public sealed class WebhookDatabase(IConfiguration configuration) : IAsyncDisposable
{
    public NpgsqlDataSource Source { get; } = NpgsqlDataSource.Create(new NpgsqlConnectionStringBuilder(
        configuration.GetConnectionString("Ledger") ?? throw new InvalidOperationException("ConnectionStrings:Ledger is not set (env ConnectionStrings__Ledger)."))
    {
        Options = "-c synchronous_commit=off", ApplicationName = "ledger-webhooks", NoResetOnClose = true, MaxAutoPrepare = 16, AutoPrepareMinUsages = 2,
    }.ConnectionString);

    public ValueTask DisposeAsync() => Source.DisposeAsync();
}

/// <summary>How webhooks are wired: services, and the notifications' way from the outbox to the fan-out (docs/decisions/0015).</summary>
public static class Webhooks
{
    public static IServiceCollection AddLedgerWebhooks(this IServiceCollection services, IConfiguration configuration)
    {
        services.Configure<WebhookOptions>(configuration.GetSection("Ledger:Webhooks"));
        services.AddSingleton<WebhookSecrets>();
        services.AddSingleton(_ => new WebhookDatabase(configuration));
        services.AddSingleton<WebhookUrlPolicy>();
        services.AddSingleton<WebhookFanOut>();
        // A Wolverine agent: one live host of those sharing the database sends (Cluster.cs).
        services.AddSingleton<WebhookDispatcher>();
        services.AddSingleton<Wolverine.Runtime.Agents.IAgentFamily>(sp => sp.GetRequiredService<WebhookDispatcher>());
        return services;
    }

    /// <summary>
    /// Notifications leave each append's transaction through Wolverine's durable outbox (stored with the events), to a
    /// durable local queue whose handler takes them in batches (one transaction of deliveries per batch, not per event).
    /// </summary>
    public static void Configure(WolverineOptions wolverine)
    {
        wolverine.Discovery.IncludeType(typeof(FanOutToWebhooks));
        wolverine.PublishMessage<PaymentNotification>().ToLocalQueue(FanOutToWebhooks.Queue).UseDurableInbox();
        wolverine.BatchMessagesOf<PaymentNotification>(batching =>
        {
            batching.BatchSize = 500;
            batching.TriggerTime = TimeSpan.FromMilliseconds(20);
        });
    }
}
