using System.Collections.Concurrent;
using System.Text;
using Npgsql;

namespace Ledger.Projections;

/// <summary>
/// Carries out <see cref="RowChanges"/> in SQL, as statements for the append's batch (or a rebuild's catch-up). The SQL
/// follows from the tables' columns and keys: one statement per change, consecutive Inserts or Adds to one table in one
/// statement, and counters guarded by the event's first Put or Insert in the same statement:
/// <code>
/// with applied as (insert into metrics_positions ... on conflict ... where version = excluded.version - 1 returning 1)
/// insert into metrics_daily ... select * from (values (...)) v where exists (select 1 from applied)
/// on conflict (...) do update set payments_created = metrics_daily.payments_created + excluded.payments_created, ...
/// </code>
/// </summary>
public static class SqlRows
{
    // Statement text per shape (kinds, tables and row counts): a projection has a handful of shapes.
    private static readonly ConcurrentDictionary<string, string> Texts = new();

    public static void Write(RowChanges changes, ICollection<NpgsqlBatchCommand> commands)
    {
        var groups = Group(changes.Items);
        if (!groups.Exists(g => g.Kind == RowChangeKind.Add))
        {
            foreach (var group in groups) commands.Add(Command([group]));
            return;
        }
        var guard = groups.FindIndex(g => g.Kind != RowChangeKind.Add);
        if (guard < 0) throw new InvalidOperationException("Counters (Add) need a Put or Insert of the same event to guard them.");
        commands.Add(Command([groups[guard], .. groups.Where(g => g.Kind == RowChangeKind.Add)]));
        for (var i = 0; i < groups.Count; i++)
            if (i != guard && groups[i].Kind != RowChangeKind.Add) commands.Add(Command([groups[i]]));
    }

    private sealed record Batch(RowChangeKind Kind, Table Table, List<object?[]> Rows);

    // Consecutive Inserts or Adds to one table become one multi-row statement. Adds with one key are summed (a statement
    // may not touch a row twice) and sorted by key, so two writers lock shared counter rows in the same order.
    private static List<Batch> Group(IReadOnlyList<RowChange> changes)
    {
        var groups = new List<Batch>(changes.Count);
        foreach (var (kind, table, row) in changes)
        {
            if (groups.Count > 0 && groups[^1] is { } last && last.Kind == kind && ReferenceEquals(last.Table, table) && kind != RowChangeKind.Put)
            {
                var same = kind == RowChangeKind.Add ? last.Rows.FindIndex(r => RowKey.Same(table, r, row)) : -1;
                if (same < 0) last.Rows.Add(row);
                else last.Rows[same] = Sum(table, last.Rows[same], row);
            }
            else groups.Add(new Batch(kind, table, [row]));
        }
        foreach (var group in groups.Where(g => g.Kind == RowChangeKind.Add))
            group.Rows.Sort((a, b) => RowKey.Compare(group.Table, a, b));
        return groups;
    }

    private static object?[] Sum(Table table, object?[] a, object?[] b)
    {
        var sum = (object?[])a.Clone();
        for (var i = 0; i < sum.Length; i++)
            if (!table.KeyIndexes.Contains(i)) sum[i] = (long)a[i]! + (long)b[i]!;
        return sum;
    }

    /// <summary>One statement: the first group alone, or (with counters) the first as the guard and the rest as guarded Adds.</summary>
    private static NpgsqlBatchCommand Command(Batch[] groups)
    {
        var shape = string.Join("|", groups.Select(g => $"{g.Kind}:{g.Table.Name}:{g.Rows.Count}"));
        var command = new NpgsqlBatchCommand(Texts.GetOrAdd(shape, static (_, groups) => Text(groups), groups));
        foreach (var group in groups)
            foreach (var row in group.Rows)
                for (var i = 0; i < row.Length; i++)
                    command.Parameters.Add(new NpgsqlParameter { Value = row[i] ?? DBNull.Value, NpgsqlDbType = group.Table.Columns[i].Type });
        return command;
    }

    private static string Text(Batch[] groups)
    {
        var n = 0;
        if (groups.Length == 1) return Statement(groups[0], ref n, guarded: false);
        var sql = new StringBuilder($"with applied as ({Statement(groups[0], ref n, guarded: false)} returning 1)");
        for (var i = 1; i < groups.Length; i++)
        {
            var statement = Statement(groups[i], ref n, guarded: true);
            sql.Append(i < groups.Length - 1 ? $", added_{i} as ({statement})" : $"\n{statement}");
        }
        return sql.ToString();
    }

    private static string Statement(Batch group, ref int n, bool guarded)
    {
        var t = group.Table;
        var key = string.Join(", ", t.Key);
        var values = Values(group, ref n);
        var changed = t.Columns.Where(c => !t.Key.Contains(c.Name)).Select(c => c.Name).ToList();
        return group.Kind switch
        {
            RowChangeKind.Put => $"insert into {t.Name} ({t.ColumnList}) values {values} on conflict ({key}) do update set " +
                string.Join(", ", changed.Select(c => $"{c} = excluded.{c}")) + $" where {t.Name}.version = excluded.version - 1",
            RowChangeKind.Insert => $"insert into {t.Name} ({t.ColumnList}) values {values} on conflict ({key}) do nothing",
            RowChangeKind.Add => $"insert into {t.Name} ({t.ColumnList}) " +
                (guarded ? $"select * from (values {values}) as v ({t.ColumnList}) where exists (select 1 from applied)" : $"values {values}") +
                $" on conflict ({key}) do update set " + string.Join(", ", changed.Select(c => $"{c} = {t.Name}.{c} + excluded.{c}")),
            _ => throw new ArgumentOutOfRangeException(nameof(group), group.Kind, null),
        };
    }

    private static string Values(Batch group, ref int n)
    {
        var rows = new List<string>(group.Rows.Count);
        foreach (var row in group.Rows)
        {
            var first = n;
            n += row.Length;
            rows.Add("(" + string.Join(", ", Enumerable.Range(first + 1, row.Length).Select(i => $"${i}")) + ")");
        }
        return string.Join(", ", rows);
    }
}
