using Wolverine;
using Wolverine.RabbitMQ;

namespace Ledger.Host.Notifications;

/// <summary>
/// Internal consumers: the same notifications to RabbitMQ's topic exchange <c>ledger.events</c>, the event type as the
/// routing key (<c>payment.succeeded</c>, ...), through Wolverine's RabbitMQ transport and its durable outbox: stored in
/// the append's transaction, sent after it commits, held while the broker is down and sent when it is back. Off unless
/// Ledger:RabbitMq:Uri is set (docs/operations.md).
/// </summary>
public static class Broker
{
    public const string Exchange = "ledger.events";

    public static bool IsOn(IConfiguration configuration) => !string.IsNullOrWhiteSpace(configuration["Ledger:RabbitMq:Uri"]);

    public static void Configure(WolverineOptions wolverine, IConfiguration configuration)
    {
        if (!IsOn(configuration)) return;
        wolverine.UseRabbitMq(new Uri(configuration["Ledger:RabbitMq:Uri"]!)).AutoProvision();
        // An explicit route, beside the webhook fan-out's local queue (Webhooks.Configure). The routing key is the event's type,
        // set on each envelope before Wolverine picks the topic.
        wolverine.PublishMessage<PaymentNotification>().ToRabbitTopics(Exchange)
            .CustomizeOutgoing(envelope => envelope.TopicName = (envelope.Message as PaymentNotification)?.Type ?? envelope.TopicName);
        wolverine.Policies.UseDurableOutboxOnAllSendingEndpoints();
    }
}
