using System.Diagnostics;

namespace Ledger.Bench;

public enum Kind { Ok, Expected, Error }

/// <summary>How one request ended, by the scenario's rules: an expected refusal (a 409 on a refund) is not an error.</summary>
public readonly record struct Outcome(Kind Kind, string Op, string? Detail = null)
{
    public static Outcome Ok(string op) => new(Kind.Ok, op);
    public static Outcome Expected(string op, string detail) => new(Kind.Expected, op, detail);
    public static Outcome Error(string op, string detail) => new(Kind.Error, op, detail);
}

/// <summary>One simulated client: its own random source and request counter, so workers share nothing while running.</summary>
public sealed class Worker(int index, int seed)
{
    public int Index { get; } = index;
    public Random Random { get; } = new(seed);
    public long Sequence { get; set; }
}

/// <summary>All latencies of a run, sorted: exact percentiles without an HDR histogram.</summary>
public sealed class Latencies(long[] sortedNanos)
{
    public int Count => sortedNanos.Length;

    public double PercentileMs(double p)
    {
        if (sortedNanos.Length == 0) return double.NaN;
        var rank = (int)Math.Ceiling(p / 100.0 * sortedNanos.Length) - 1;
        return sortedNanos[Math.Clamp(rank, 0, sortedNanos.Length - 1)] / 1e6;
    }

    public static Latencies Of(IEnumerable<long> nanos)
    {
        var all = nanos.ToArray();
        Array.Sort(all);
        return new Latencies(all);
    }
}

public sealed class RunResult
{
    public required string Scenario { get; init; }
    public required int Clients { get; init; }
    public required double Seconds { get; init; }
    public required Latencies Latency { get; init; }
    public required IReadOnlyDictionary<string, Latencies> ByOperation { get; init; }
    public long Ok { get; init; }
    public long Expected { get; init; }
    public long Errors { get; init; }
    /// <summary>"error 500 internal" -> count, "expected 409 payment_not_refundable" -> count.</summary>
    public IReadOnlyDictionary<string, long> Details { get; init; } = new Dictionary<string, long>();
    public long? HostPeakRssKb { get; set; }
    /// <summary>CPU seconds the host and PostgreSQL (all backends) used during the measured window.</summary>
    public double? HostCpuSeconds { get; set; }
    public double? PgCpuSeconds { get; set; }
    public WaitStats? Waits { get; set; }
    public string? Note { get; set; }

    public long Completed => Ok + Expected + Errors;
    public double PerSecond => Seconds > 0 ? Completed / Seconds : 0;
    public double OkPerSecond => Seconds > 0 ? Ok / Seconds : 0;
    public double? HostCpuMsPerRequest => HostCpuSeconds is { } s && Completed > 0 ? 1000 * s / Completed : null;
    public double? PgCpuMsPerRequest => PgCpuSeconds is { } s && Completed > 0 ? 1000 * s / Completed : null;
}

/// <summary>
/// Closed-loop load: <c>clients</c> workers, each sending its next request as soon as the last one is answered.
/// The first <c>warmup</c> is not counted; then requests that complete within <c>duration</c> are. Workers start no
/// request after the window; the ones in flight finish (bounded by the HTTP timeout) and are not counted.
/// </summary>
public static class Load
{
    public static async Task<RunResult> RunAsync(
        string scenario, int clients, TimeSpan warmup, TimeSpan duration,
        Func<Worker, CancellationToken, Task<Outcome>> step,
        Func<CancellationToken, Task>? duringWindow = null,
        int seed = 1)
    {
        var started = Stopwatch.GetTimestamp();
        var windowStart = started + Ticks(warmup);
        var windowEnd = windowStart + Ticks(duration);
        using var hardStop = new CancellationTokenSource(warmup + duration + TimeSpan.FromSeconds(60));
        using var window = new CancellationTokenSource();

        var monitor = duringWindow is null ? Task.CompletedTask : Task.Run(async () =>
        {
            var wait = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), windowStart);
            if (wait > TimeSpan.Zero) await Task.Delay(wait);
            window.CancelAfter(duration);
            await duringWindow(window.Token);
        });

        var workers = Enumerable.Range(0, clients).Select(i => Task.Run(async () =>
        {
            var worker = new Worker(i, HashCode.Combine(seed, scenario, clients, i));
            var record = new WorkerRecord();
            while (Stopwatch.GetTimestamp() < windowEnd && !hardStop.IsCancellationRequested)
            {
                var t0 = Stopwatch.GetTimestamp();
                Outcome outcome;
                try
                {
                    outcome = await step(worker, hardStop.Token);
                }
                catch (Exception e) when (e is HttpRequestException or TaskCanceledException or IOException)
                {
                    outcome = Outcome.Error("request", e.GetType().Name + ": " + e.Message);
                }
                var t1 = Stopwatch.GetTimestamp();
                if (t1 >= windowStart && t1 <= windowEnd) record.Add(outcome, ToNanos(t1 - t0));
            }
            return record;
        })).ToArray();

        var records = await Task.WhenAll(workers);
        await monitor;

        var details = new Dictionary<string, long>();
        var byOp = new Dictionary<string, List<long>>();
        foreach (var r in records)
        {
            foreach (var (k, v) in r.Details) details[k] = details.GetValueOrDefault(k) + v;
            foreach (var (op, list) in r.ByOp)
            {
                if (!byOp.TryGetValue(op, out var all)) byOp[op] = all = [];
                all.AddRange(list);
            }
        }
        return new RunResult
        {
            Scenario = scenario,
            Clients = clients,
            Seconds = duration.TotalSeconds,
            Latency = Latencies.Of(records.SelectMany(r => r.All)),
            ByOperation = byOp.ToDictionary(p => p.Key, p => Latencies.Of(p.Value)),
            Ok = records.Sum(r => r.Ok),
            Expected = records.Sum(r => r.Expected),
            Errors = records.Sum(r => r.Errors),
            Details = details,
        };
    }

    private static long Ticks(TimeSpan t) => (long)(t.TotalSeconds * Stopwatch.Frequency);
    private static long ToNanos(long ticks) => (long)(ticks * (1e9 / Stopwatch.Frequency));

    private sealed class WorkerRecord
    {
        public List<long> All { get; } = new(4096);
        public Dictionary<string, List<long>> ByOp { get; } = [];
        public Dictionary<string, long> Details { get; } = [];
        public long Ok, Expected, Errors;

        public void Add(Outcome outcome, long nanos)
        {
            All.Add(nanos);
            if (!ByOp.TryGetValue(outcome.Op, out var list)) ByOp[outcome.Op] = list = new(1024);
            list.Add(nanos);
            switch (outcome.Kind)
            {
                case Kind.Ok: Ok++; break;
                case Kind.Expected: Expected++; Note("expected " + outcome.Detail); break;
                case Kind.Error: Errors++; Note("error " + outcome.Detail); break;
            }
        }

        private void Note(string detail)
        {
            var key = detail.Length > 120 ? detail[..120] : detail;
            Details[key] = Details.GetValueOrDefault(key) + 1;
        }
    }
}
