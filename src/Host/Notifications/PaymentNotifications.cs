using System.Diagnostics;
using Ledger.Domain.Payments;
using Ledger.EventStore;
using Ledger.Projections.Payments;

namespace Ledger.Host.Notifications;

/// <summary>
/// The outbox's rule: every event a merchant can see becomes a <see cref="PaymentNotification"/>, published in the append's
/// transaction through Marten's message outbox, which Wolverine's Marten integration (IntegrateWithWolverine) makes
/// Wolverine's durable outbox: stored with the events, sent only after they commit, recovered after a crash. It runs
/// beside the read model's inline projections (MartenEventLog's InlineSql), on the payment as its writer folded it.
/// Only where someone listens (<see cref="NotificationAudience"/>): with no audience (the command line), everywhere.
/// </summary>
public sealed class PaymentNotifications(NotificationAudience? audience) : IInlinePublisher<PaymentEvent>
{
    public IEnumerable<(int EventIndex, object Message)> MessagesFor(IReadOnlyList<PendingEvent<PaymentEvent>> events)
    {
        Payment? state = null;
        for (var i = 0; i < events.Count; i++)
        {
            var e = events[i];
            if (i == 0 || events[i - 1].StreamId != e.StreamId) state = PaymentProjection.Before(e);
            state = Payment.Evolve(state, e.Data);
            if (state is not null && (audience?.Listens(state.MerchantId) ?? true) && PaymentNotification.Of(e.StreamId, e.Version, e.Data, state) is { } notification)
                yield return (i, notification with { CorrelationId = e.Metadata.CorrelationId, TraceParent = Activity.Current?.Id });
        }
    }
}
