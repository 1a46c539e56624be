using Npgsql;

namespace Ledger.Projections.Rebuild;

/// <summary>
/// Built rows straight into PostgreSQL: one binary COPY per table, all open at once, each on the connection given for
/// its table (a connection carries one COPY at a time). The rebuild copies into its fresh tables, the audit into
/// temporary ones it then compares in SQL. The connections stay the caller's.
/// </summary>
public sealed class RowCopies : IRowSink, IAsyncDisposable
{
    private readonly Dictionary<Table, NpgsqlBinaryImporter> _importers = new(ReferenceEqualityComparer.Instance);

    /// <param name="targets">Each table, the connection to copy on and the table to copy into (same columns, same order).</param>
    public static async Task<RowCopies> OpenAsync(IEnumerable<(Table Table, NpgsqlConnection Connection, string Into)> targets, CancellationToken ct)
    {
        var copies = new RowCopies();
        try
        {
            foreach (var (table, connection, into) in targets)
                copies._importers[table] = await connection.BeginBinaryImportAsync(
                    $"copy {into} ({table.ColumnList}) from stdin (format binary)", ct);
            return copies;
        }
        catch
        {
            await copies.DisposeAsync();
            throw;
        }
    }

    public void Row(Table table, object?[] values)
    {
        var importer = _importers[table];
        importer.StartRow();
        for (var i = 0; i < values.Length; i++)
            if (values[i] is null) importer.WriteNull();
            else importer.Write(values[i]!, table.Columns[i].Type);
    }

    /// <summary>Commits every copy's rows and frees its connection for other commands (an importer holds it until disposed).</summary>
    public async Task CompleteAsync(CancellationToken ct)
    {
        foreach (var importer in _importers.Values)
        {
            await importer.CompleteAsync(ct);
            await importer.DisposeAsync();
        }
        _importers.Clear();
    }

    /// <summary>Without <see cref="CompleteAsync"/> first, every copy is cancelled and nothing it sent is kept.</summary>
    public async ValueTask DisposeAsync()
    {
        foreach (var importer in _importers.Values) await importer.DisposeAsync();
        _importers.Clear();
    }
}
