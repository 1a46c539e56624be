using Ledger.Domain.Payments;
using Ledger.EventStore;
using Npgsql;

namespace Ledger.Projections.Payments;

/// <summary>A payment event with its place in the stream.</summary>
public readonly record struct PaymentEventAt(string PaymentId, long Version, PaymentEvent Event);

/// <summary>
/// A read-model projection of payment streams, written once as rules: <see cref="Apply"/> says which rows one event
/// changes, given the payment as the decider's fold says it is after the event. The same rules build the tables inline
/// (here, through <see cref="SqlRows"/>), in a rebuild and in `audit verify` (<see cref="Rebuild.ReadModelBuilder"/>).
/// </summary>
public abstract class PaymentProjection : IInlineProjection<PaymentEvent>
{
    /// <summary>The projection's name, as `projections list|rebuild` and <see cref="Table.Projection"/> call it.</summary>
    public abstract string Name { get; }

    /// <summary>The rules. <paramref name="after"/> is the payment with <paramref name="e"/> applied.</summary>
    public abstract void Apply(PaymentEventAt e, Payment after, RowChanges rows);

    /// <summary>
    /// Inline: folds each stream's events onto the state its writer decided them on (<see cref="PendingEvent{TEvent}.StreamState"/>)
    /// and turns each event's rows into statements for the append's batch.
    /// </summary>
    public void Project(IReadOnlyList<PendingEvent<PaymentEvent>> events, ICollection<NpgsqlBatchCommand> commands)
    {
        var rows = new RowChanges();
        Payment? state = null;
        for (var i = 0; i < events.Count; i++)
        {
            var e = events[i];
            if (i == 0 || events[i - 1].StreamId != e.StreamId) state = Before(e);
            state = Payment.Evolve(state, e.Data)
                ?? throw new InvalidOperationException($"Stream {e.StreamId} version {e.Version}: {e.Type} applies to no payment.");
            rows.Clear();
            Apply(new PaymentEventAt(e.StreamId, e.Version, e.Data), state, rows);
            SqlRows.Write(rows, commands);
        }
    }

    /// <summary>The payment as the writer of <paramref name="first"/>'s append folded it (null before a new stream).</summary>
    public static Payment? Before(PendingEvent<PaymentEvent> first) => first.Version == 1 ? null : first.StreamState switch
    {
        Payment p when p.Version == first.Version - 1 && p.Id == first.StreamId => p,
        Payment p => throw new InvalidOperationException(
            $"Stream {first.StreamId} version {first.Version} was appended with the state of {p.Id} at version {p.Version}."),
        _ => throw new InvalidOperationException(
            $"Stream {first.StreamId} version {first.Version} was appended without the payment it was decided on (EventLog.AppendAsync's streamState)."),
    };

    protected static DateTime Utc(DateTimeOffset at) => at.UtcDateTime;

    protected static DateOnly Day(DateTimeOffset at) => DateOnly.FromDateTime(at.UtcDateTime);
}
