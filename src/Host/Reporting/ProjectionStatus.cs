using Ledger.Projections;
using Npgsql;

namespace Ledger.Host.Reporting;

public sealed record LastRebuild(DateTime At, long Events, double Seconds)
{
    public double EventsPerSecond => Events / Math.Max(Seconds, 0.001);
}

/// <summary>A projection as operators see it: its tables and rows, where it stands in the log and its last rebuild.</summary>
public sealed record ProjectionState(string Name, IReadOnlyList<string> Tables, long Rows, long Position, long InFlight, LastRebuild? LastRebuild);

/// <summary>
/// What `projections list` prints and the console's operations page shows. Every projection is inline, written in the
/// append's own transaction, so each stands exactly at the head of what has committed: its lag is 0, plus the events of
/// transactions still in flight (which it will have when they commit, with them).
/// </summary>
public static class ProjectionStatus
{
    public static async Task<IReadOnlyList<ProjectionState>> ReadAsync(NpgsqlDataSource db, CancellationToken ct)
    {
        var (head, inFlight) = await LogHeadAsync(db, ct);
        var states = new List<ProjectionState>();
        foreach (var projection in ReadModelTables.Projections)
        {
            var tables = ReadModelTables.All.Where(t => t.Projection == projection).Select(t => t.Name).ToList();
            long rows = 0;
            foreach (var name in tables)
            {
                await using var count = db.CreateCommand($"select count(*) from {name}");
                rows += (long)(await count.ExecuteScalarAsync(ct))!;
            }
            states.Add(new ProjectionState(projection, tables, rows, head, inFlight, await LastRebuildAsync(db, projection, ct)));
        }
        return states;
    }

    /// <summary>The last sequence every reader may see (below the oldest transaction in flight), and how many are in flight.</summary>
    private static async Task<(long Head, long InFlight)> LogHeadAsync(NpgsqlDataSource db, CancellationToken ct)
    {
        await using var cmd = db.CreateCommand("""
            select coalesce(max(sequence) filter (where transaction_id < pg_snapshot_xmin(pg_current_snapshot())), 0),
                   count(*) filter (where transaction_id >= pg_snapshot_xmin(pg_current_snapshot()))
            from ledger.events
            """);
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        await reader.ReadAsync(ct);
        return (reader.GetInt64(0), reader.GetInt64(1));
    }

    private static async Task<LastRebuild?> LastRebuildAsync(NpgsqlDataSource db, string projection, CancellationToken ct)
    {
        await using var cmd = db.CreateCommand("select rebuilt_at, events, seconds from projection_rebuilds where projection = $1");
        cmd.Parameters.Add(new NpgsqlParameter { Value = projection });
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        return await reader.ReadAsync(ct) ? new LastRebuild(reader.GetDateTime(0), reader.GetInt64(1), reader.GetDouble(2)) : null;
    }
}
