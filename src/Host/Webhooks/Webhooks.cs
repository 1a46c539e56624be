using Ledger.Host.Notifications;
using Wolverine;

namespace Ledger.Host.Webhooks;

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
        // Notifications are published only for merchants with endpoints, or all of them when the broker is on.
        services.AddSingleton(_ => new NotificationAudience(everyone: Broker.IsOn(configuration)));
        services.AddHostedService<NotificationAudience.Refresh>();
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
