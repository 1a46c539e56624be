using Ledger.Domain.Payments;
using Ledger.EventStore;
using Ledger.Projections.Payments;

namespace Ledger.Projections.Rebuild;

/// <summary>Where built rows go: a COPY into fresh tables, or an auditor's comparison.</summary>
public interface IRowSink
{
    void Row(Table table, object?[] values);
}

/// <summary>
/// Carries out the projections' rules (<see cref="PaymentProjection.Apply"/>) in memory, over the log stream by stream:
/// the rows every read table should hold, from the same rules the inline path runs in SQL. A stream's own rows (Put,
/// Insert) go to the sink when the stream ends; counters (Add), which sum over payments, when the log ends.
/// </summary>
public sealed class ReadModelBuilder
{
    private readonly IRowSink _sink;
    private readonly IReadOnlyList<PaymentProjection> _projections;
    private readonly RowChanges _rows = new();
    private readonly Dictionary<Table, Dictionary<RowKey, object?[]>> _counters = new(ReferenceEqualityComparer.Instance);
    private readonly Dictionary<Table, Dictionary<RowKey, object?[]>> _stream = new(ReferenceEqualityComparer.Instance);
    private string? _streamId;
    private Payment? _state;

    public ReadModelBuilder(IRowSink sink, ISet<string>? projections = null)
    {
        _sink = sink;
        _projections = ReadModel.InlineProjections().Where(p => projections is null || projections.Contains(p.Name)).ToList();
    }

    /// <summary>Feed events grouped by stream, each stream in version order.</summary>
    public void Add(StoredEvent<PaymentEvent> e)
    {
        if (e.StreamId != _streamId)
        {
            FlushStream();
            (_streamId, _state) = (e.StreamId, null);
        }
        // An event the fold cannot apply (no PaymentRequested first) builds no rows; `audit verify` reports the stream.
        if ((_state = Payment.Evolve(_state, e.Data)) is not { } after) return;
        var at = new PaymentEventAt(e.StreamId, e.Version, e.Data);
        foreach (var projection in _projections)
        {
            _rows.Clear();
            projection.Apply(at, after, _rows);
            foreach (var (kind, table, row) in _rows.Items)
                Apply(kind, table, row);
        }
    }

    public void Complete()
    {
        FlushStream();
        foreach (var (table, rows) in _counters)
            foreach (var row in rows.Values) _sink.Row(table, row);
        _counters.Clear();
    }

    private void Apply(RowChangeKind kind, Table table, object?[] row)
    {
        var rows = Rows(kind == RowChangeKind.Add ? _counters : _stream, table);
        var key = new RowKey(table, row);
        switch (kind)
        {
            case RowChangeKind.Put:
                rows[key] = row;
                break;
            case RowChangeKind.Insert:
                rows.TryAdd(key, row);
                break;
            case RowChangeKind.Add when rows.TryGetValue(key, out var sum):
                for (var i = 0; i < row.Length; i++)
                    if (!table.KeyIndexes.Contains(i)) sum[i] = (long)sum[i]! + (long)row[i]!;
                break;
            case RowChangeKind.Add:
                rows[key] = (object?[])row.Clone();
                break;
        }
    }

    private static Dictionary<RowKey, object?[]> Rows(Dictionary<Table, Dictionary<RowKey, object?[]>> tables, Table table) =>
        tables.TryGetValue(table, out var rows) ? rows : tables[table] = [];

    private void FlushStream()
    {
        foreach (var (table, rows) in _stream)
        {
            foreach (var row in rows.Values) _sink.Row(table, row);
            rows.Clear();
        }
    }
}
