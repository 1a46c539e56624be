using Npgsql;

namespace Ledger.EventStore;

/// <summary>
/// A read model kept in the same transaction as the append: its statements (added to <c>commands</c>) join the append's batch,
/// so the read model and the log commit or roll back together. Applying the same event twice must change
/// nothing (guard on stream version).
/// </summary>
public interface IInlineProjection<TEvent>
{
    string Name { get; }
    void Project(IReadOnlyList<PendingEvent<TEvent>> events, ICollection<NpgsqlBatchCommand> commands);
}
