namespace Ledger.Projections;

public enum RowChangeKind
{
    /// <summary>The row as it is after the event: written over the row of the version before, or inserted.</summary>
    Put,
    /// <summary>A row that never changes once written (a journal line, a refund): inserted if its key is new.</summary>
    Insert,
    /// <summary>Counters to add to the row with this key (created at zero): key columns, then amounts.</summary>
    Add,
}

public readonly record struct RowChange(RowChangeKind Kind, Table Table, object?[] Row);

/// <summary>
/// What one event changes in one projection's tables, as rows: the projection's rules say it once, and two
/// interpreters carry it out, <see cref="SqlRows"/> in the append's transaction and
/// <see cref="Rebuild.ReadModelBuilder"/> in memory (for a rebuild's COPY, and for `audit verify`'s comparison).
/// <para>
/// Exactly once: a Put applies only onto the version before, an Insert only if the key is new, and counters
/// (Add) move only if the projection's first Put or Insert for the event changed its table. Replaying an event
/// changes nothing. Put and Insert rows belong to the event's stream; Add rows sum over streams.
/// </para>
/// </summary>
public sealed class RowChanges
{
    private readonly List<RowChange> _changes = new(4);

    public IReadOnlyList<RowChange> Items => _changes;

    public void Put(Table table, params object?[] row) => Change(RowChangeKind.Put, table, row);

    public void Insert(Table table, params object?[] row) => Change(RowChangeKind.Insert, table, row);

    public void Add(Table table, params object?[] row) => Change(RowChangeKind.Add, table, row);

    public void Clear() => _changes.Clear();

    private void Change(RowChangeKind kind, Table table, object?[] row)
    {
        if (row.Length != table.Columns.Length)
            throw new ArgumentException($"{table.Name} has {table.Columns.Length} columns; the row has {row.Length}.", nameof(row));
        if (kind == RowChangeKind.Put && table.VersionIndex < 0)
            throw new ArgumentException($"{table.Name} has no version column: a Put needs one to apply exactly once.", nameof(table));
        _changes.Add(new RowChange(kind, table, row));
    }
}

/// <summary>A row's key values, compared value by value: for rows held in memory by key.</summary>
public readonly struct RowKey : IEquatable<RowKey>
{
    private readonly object?[] _values;
    private readonly int _hash;

    public RowKey(Table table, object?[] row)
    {
        _values = new object?[table.KeyIndexes.Length];
        var hash = new HashCode();
        for (var i = 0; i < _values.Length; i++)
        {
            _values[i] = row[table.KeyIndexes[i]];
            hash.Add(_values[i]);
        }
        _hash = hash.ToHashCode();
    }

    public bool Equals(RowKey other)
    {
        if (_hash != other._hash || _values.Length != other._values.Length) return false;
        for (var i = 0; i < _values.Length; i++)
            if (!Equals(_values[i], other._values[i])) return false;
        return true;
    }

    public override bool Equals(object? obj) => obj is RowKey other && Equals(other);

    public override int GetHashCode() => _hash;

    public static bool Same(Table table, object?[] a, object?[] b)
    {
        foreach (var i in table.KeyIndexes)
            if (!Equals(a[i], b[i])) return false;
        return true;
    }

    /// <summary>One order for every writer (strings by ordinal), so rows of one statement always lock in the same order.</summary>
    public static int Compare(Table table, object?[] a, object?[] b)
    {
        foreach (var i in table.KeyIndexes)
        {
            var order = (a[i], b[i]) switch
            {
                (string x, string y) => string.CompareOrdinal(x, y),
                (IComparable x, var y) => x.CompareTo(y),
                _ => 0,
            };
            if (order != 0) return order;
        }
        return 0;
    }
}
