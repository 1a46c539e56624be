using System.Globalization;
using Npgsql;

namespace Ledger.Bench;

/// <summary>
/// The host's resident memory from /proc/&lt;pid&gt;/status. VmHWM is the peak; writing 5 to clear_refs resets it
/// (Linux 4.0+, same user or root), so each scenario gets its own peak. VmRSS is also sampled, in case the reset
/// is not allowed.
/// </summary>
public sealed class ProcessMemory(int pid)
{
    public long OverallPeakKb { get; private set; }

    public long? ReadKb(string field)
    {
        try
        {
            foreach (var line in File.ReadLines($"/proc/{pid}/status"))
                if (line.StartsWith(field + ":", StringComparison.Ordinal))
                    return long.Parse(line[(field.Length + 1)..].Trim().Split(' ')[0], CultureInfo.InvariantCulture);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // The process is gone.
        }
        return null;
    }

    /// <summary>Peak so far (start-up included), then a reset so the next scenario's peak is its own.</summary>
    public long? TakePeakAndReset()
    {
        var peak = ReadKb("VmHWM");
        if (peak is { } p) OverallPeakKb = Math.Max(OverallPeakKb, p);
        try
        {
            File.WriteAllText($"/proc/{pid}/clear_refs", "5");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Not allowed: VmHWM stays the process's lifetime peak; the sampled VmRSS still gives the scenario's.
        }
        return peak;
    }

    /// <summary>Samples VmRSS until cancelled and returns the highest value seen, with the VmHWM at the end.</summary>
    public async Task<long> WatchAsync(CancellationToken ct)
    {
        long max = 0;
        while (!ct.IsCancellationRequested)
        {
            if (ReadKb("VmRSS") is { } rss) max = Math.Max(max, rss);
            try { await Task.Delay(100, ct); } catch (TaskCanceledException) { break; }
        }
        var hwm = ReadKb("VmHWM") ?? 0;
        var peak = Math.Max(max, hwm);
        OverallPeakKb = Math.Max(OverallPeakKb, peak);
        return peak;
    }
}

/// <summary>What the database's client backends were waiting on, counted over samples.</summary>
public sealed class WaitStats
{
    public int Samples { get; set; }
    /// <summary>"Lock/transactionid" -> backend-samples; "CPU/running" for an active backend waiting on nothing.</summary>
    public Dictionary<string, long> ByEvent { get; } = [];
    /// <summary>The statements backends were waiting on a Lock in, first words only.</summary>
    public Dictionary<string, long> LockedStatements { get; } = [];

    public long Total => ByEvent.Values.Sum();
    public long Count(Func<string, bool> which) => ByEvent.Where(p => which(p.Key)).Sum(p => p.Value);
    public double Share(Func<string, bool> which) => Total == 0 ? 0 : (double)Count(which) / Total;
}

/// <summary>Samples pg_stat_activity a few times a second: does one merchant's traffic queue on row locks?</summary>
public sealed class WaitSampler(string connectionString, string database)
{
    public async Task<WaitStats> SampleAsync(TimeSpan interval, CancellationToken ct)
    {
        var stats = new WaitStats();
        try
        {
            await SampleIntoAsync(stats, interval, ct);
        }
        catch (NpgsqlException e)
        {
            // Watching must not end the run: report what was sampled before the failure.
            Console.Error.WriteLine($"  wait sampling stopped: {e.Message}");
        }
        return stats;
    }

    private async Task SampleIntoAsync(WaitStats stats, TimeSpan interval, CancellationToken ct)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync(CancellationToken.None);
        await using var cmd = new NpgsqlCommand("""
            select coalesce(wait_event_type, 'CPU'), coalesce(wait_event, 'running'),
                   left(regexp_replace(query, '\s+', ' ', 'g'), 70)
            from pg_stat_activity
            where datname = $1 and backend_type = 'client backend' and pid <> pg_backend_pid() and state <> 'idle'
            """, connection);
        cmd.Parameters.AddWithValue(database);
        while (!ct.IsCancellationRequested)
        {
            await using (var reader = await cmd.ExecuteReaderAsync(CancellationToken.None))
            {
                while (await reader.ReadAsync(CancellationToken.None))
                {
                    var key = reader.GetString(0) + "/" + reader.GetString(1);
                    stats.ByEvent[key] = stats.ByEvent.GetValueOrDefault(key) + 1;
                    if (reader.GetString(0) == "Lock" && !reader.IsDBNull(2))
                    {
                        var statement = reader.GetString(2);
                        stats.LockedStatements[statement] = stats.LockedStatements.GetValueOrDefault(statement) + 1;
                    }
                }
            }
            stats.Samples++;
            try { await Task.Delay(interval, ct); } catch (TaskCanceledException) { break; }
        }
    }
}

/// <summary>
/// CPU seconds from /proc/&lt;pid&gt;/stat (utime + stime, all threads, at USER_HZ = 100). For PostgreSQL: the postmaster,
/// its live children (the backends) and the children that already exited (cutime + cstime of the postmaster).
/// </summary>
public static class Cpu
{
    private const double TicksPerSecond = 100; // USER_HZ: 100 on every mainstream Linux build

    public static double? ProcessSeconds(int pid) => Read(pid) is { } s ? (s.UTime + s.STime) / TicksPerSecond : null;

    public static double? ClusterSeconds(int postmasterPid)
    {
        if (Read(postmasterPid) is not { } postmaster) return null;
        var ticks = postmaster.UTime + postmaster.STime + postmaster.CUTime + postmaster.CSTime;
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
            if (int.TryParse(Path.GetFileName(dir), out var pid) && Read(pid) is { } child && child.PPid == postmasterPid)
                ticks += child.UTime + child.STime;
        return ticks / TicksPerSecond;
    }

    private readonly record struct Stat(int PPid, long UTime, long STime, long CUTime, long CSTime);

    private static Stat? Read(int pid)
    {
        try
        {
            var text = File.ReadAllText($"/proc/{pid}/stat");
            // "pid (comm) state ppid ...": comm may hold spaces and parentheses, so split after the last ')'.
            var f = text[(text.LastIndexOf(')') + 2)..].Split(' ');
            return new Stat(int.Parse(f[1], CultureInfo.InvariantCulture), long.Parse(f[11], CultureInfo.InvariantCulture),
                long.Parse(f[12], CultureInfo.InvariantCulture), long.Parse(f[13], CultureInfo.InvariantCulture),
                long.Parse(f[14], CultureInfo.InvariantCulture));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException or IndexOutOfRangeException)
        {
            return null; // gone, or not ours to read
        }
    }
}

/// <summary>CPU used by the host and by PostgreSQL between two moments, per completed request.</summary>
public sealed class CpuWindow(int hostPid, int? postmasterPid)
{
    private double? _host0, _pg0;

    public void Start()
    {
        _host0 = Cpu.ProcessSeconds(hostPid);
        _pg0 = postmasterPid is { } p ? Cpu.ClusterSeconds(p) : null;
    }

    public (double? HostSeconds, double? PgSeconds) Stop() => (
        _host0 is { } h0 && Cpu.ProcessSeconds(hostPid) is { } h1 ? h1 - h0 : null,
        _pg0 is { } p0 && postmasterPid is { } p && Cpu.ClusterSeconds(p) is { } p1 ? p1 - p0 : null);
}
