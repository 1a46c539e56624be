using System.Globalization;

namespace Ledger.Bench;

/// <summary>One table (markdown, so it pastes into docs/benchmarks.md), then the issue's targets and the notes behind them.</summary>
public static class Report
{
    public static void Print(
        TextWriter w, Options o, IReadOnlyList<RunResult> rows, IReadOnlyDictionary<int, RunResult> ceilings,
        RunResult? oneMerchant, RunResult? manyMerchants, IReadOnlyList<RunResult> paired, RunResult? mixed, RunResult? rebuild, string rebuildStatus, long hostPeakKb)
    {
        w.WriteLine();
        if (o.Machine.Length > 0) w.WriteLine(o.Machine);
        w.WriteLine($"Each run: {o.Warmup.TotalSeconds:0} s warm-up (not counted) + {o.Duration.TotalSeconds:0} s measured; closed loop, "
            + "a client sends its next request when the last one is answered. Latencies are of every request in the window.");
        w.WriteLine();

        string[] header = ["scenario", "clients", "req/s", "p50 ms", "p95 ms", "p99 ms", "ok", "expected", "errors", "host peak RSS MB", "host CPU ms/req", "PG CPU ms/req", "vs ceiling"];
        var table = new List<string[]> { header };
        foreach (var r in rows)
        {
            var isCeiling = r.Scenario.StartsWith("ceiling", StringComparison.Ordinal);
            var isRebuild = r.Scenario.StartsWith("rebuild", StringComparison.Ordinal);
            var vsCeiling = r.Scenario.StartsWith("charge", StringComparison.Ordinal) && ceilings.TryGetValue(r.Clients, out var c) && c.OkPerSecond > 0
                ? $"{100 * r.OkPerSecond / c.OkPerSecond:F0}%"
                : "-";
            table.Add([
                isCeiling ? r.Scenario + " (1 run = 1 charge)" : isRebuild ? r.Scenario + " (events/s)" : r.Scenario,
                r.Clients.ToString(CultureInfo.InvariantCulture),
                r.PerSecond.ToString("F0", CultureInfo.InvariantCulture),
                Ms(r.Latency.PercentileMs(50)), Ms(r.Latency.PercentileMs(95)), Ms(r.Latency.PercentileMs(99)),
                r.Ok.ToString(CultureInfo.InvariantCulture), r.Expected.ToString(CultureInfo.InvariantCulture),
                r.Errors.ToString(CultureInfo.InvariantCulture),
                r.HostPeakRssKb is { } kb ? (kb / 1024.0).ToString("F0", CultureInfo.InvariantCulture) : "-",
                r.HostCpuMsPerRequest is { } h ? h.ToString("F2", CultureInfo.InvariantCulture) : "-",
                r.PgCpuMsPerRequest is { } pg ? pg.ToString("F2", CultureInfo.InvariantCulture) : "-",
                vsCeiling,
            ]);
        }
        if (rebuild is null) table.Add([$"rebuild: {rebuildStatus}", "-", "-", "-", "-", "-", "-", "-", "-", "-", "-", "-", "-"]);
        WriteTable(w, table);

        w.WriteLine();
        w.WriteLine("Targets (issue 6):");
        Target(w, o.StartupMs is { } startup ? startup < 3000 : null, "start-up to ready < 3 s",
            o.StartupMs is { } s ? $"{s / 1000:F2} s (process launch to the first 200 from /health/ready, migrations included)" : "not measured");
        if (oneMerchant is not null && ceilings.TryGetValue(oneMerchant.Clients, out var ceiling) && ceiling.OkPerSecond > 0)
        {
            var share = oneMerchant.OkPerSecond / ceiling.OkPerSecond;
            Target(w, share >= 0.5, $"charge at {oneMerchant.Clients} clients >= 50% of the same-run pgbench ceiling",
                $"{100 * share:F0}% ({oneMerchant.OkPerSecond:F0} charges/s vs {ceiling.OkPerSecond:F0} script runs/s)");
        }
        else Target(w, null, "charge >= 50% of the pgbench ceiling", "needs the charge and ceiling scenarios at the same concurrency");
        if (oneMerchant is not null)
            Target(w, oneMerchant.Latency.PercentileMs(99) < 50, $"charge p99 < 50 ms at {oneMerchant.Clients} clients",
                $"{oneMerchant.Latency.PercentileMs(99):F1} ms");
        var chargeRows = rows.Where(r => r.Scenario.StartsWith("charge", StringComparison.Ordinal)).ToList();
        if (chargeRows.Count > 0)
            Target(w, chargeRows.All(r => r.Errors == 0), "no errors in any charge run", $"{chargeRows.Sum(r => r.Errors)} errors");
        if (paired.Count == 4 && paired[1].OkPerSecond + paired[2].OkPerSecond > 0)
        {
            var one = (paired[0].OkPerSecond + paired[3].OkPerSecond) / 2;
            var manyRate = (paired[1].OkPerSecond + paired[2].OkPerSecond) / 2;
            Target(w, one / manyRate >= 0.8, $"one merchant not much slower than many (>= 80%) at {paired[0].Clients} clients, paired ABBA runs",
                $"{100 * one / manyRate:F0}% ({paired[0].OkPerSecond:F0}+{paired[3].OkPerSecond:F0} /s vs {paired[1].OkPerSecond:F0}+{paired[2].OkPerSecond:F0} /s with {o.MerchantKeys.Count} merchants)");
        }
        else if (oneMerchant is not null && manyMerchants is not null && manyMerchants.OkPerSecond > 0)
            Target(w, null, "one merchant not much slower than many", "needs the paired runs (more than one merchant key)");
        var replay = rows.FirstOrDefault(r => r.Scenario.StartsWith("replay", StringComparison.Ordinal));
        if (replay is not null && oneMerchant is not null && oneMerchant.OkPerSecond > 0)
            Target(w, replay.OkPerSecond >= 3 * oneMerchant.OkPerSecond, "replay >= 3x charge throughput",
                $"{replay.OkPerSecond / oneMerchant.OkPerSecond:F1}x ({replay.OkPerSecond:F0}/s vs {oneMerchant.OkPerSecond:F0}/s)");
        Target(w, rebuild is null ? null : rebuild.Errors == 0 && rebuild.PerSecond >= 50_000,
            $"rebuild >= 50,000 events/s over {(o.RebuildEvents > 0 ? o.RebuildEvents : 1_000_000):N0} events",
            rebuild is null ? rebuildStatus : $"{rebuild.PerSecond:N0} events/s ({rebuild.Note})");
        Target(w, hostPeakKb > 0 ? hostPeakKb < 300 * 1024 : null, "host peak RSS < 300 MB",
            hostPeakKb > 0 ? $"{hostPeakKb / 1024.0:F0} MB (VmHWM, start-up and every scenario)" : "not measured");

        if (oneMerchant?.Waits is not null || manyMerchants?.Waits is not null)
        {
            w.WriteLine();
            w.WriteLine("Where the database's client backends were (pg_stat_activity every 200 ms, non-idle backends of the ledger database):");
            foreach (var r in new[] { oneMerchant, manyMerchants })
                if (r?.Waits is { } waits) Waits(w, r, waits);
        }

        if (mixed is not null && mixed.ByOperation.Count > 0)
        {
            w.WriteLine();
            w.WriteLine($"mixed, by operation: " + string.Join("; ", mixed.ByOperation.OrderByDescending(p => p.Value.Count).Select(p =>
                $"{p.Key} {p.Value.Count} (p50 {Ms(p.Value.PercentileMs(50))}, p99 {Ms(p.Value.PercentileMs(99))} ms)")));
        }

        var details = rows.Where(r => r.Details.Count > 0).ToList();
        if (details.Count > 0)
        {
            w.WriteLine();
            w.WriteLine("Non-2xx answers and failures, by scenario (\"expected\" = refusals the contract allows, e.g. 409/422 on refunds):");
            foreach (var r in details)
                w.WriteLine($"  {r.Scenario} @{r.Clients}: " + string.Join("; ", r.Details.OrderByDescending(d => d.Value).Take(6).Select(d => $"{d.Key} x{d.Value}")));
        }
    }

    private static void Waits(TextWriter w, RunResult r, WaitStats waits)
    {
        bool Lock(string k) => k.StartsWith("Lock/", StringComparison.Ordinal);
        string Pct(Func<string, bool> which) => $"{100 * waits.Share(which):F1}%";
        var lockKinds = waits.ByEvent.Where(p => Lock(p.Key)).OrderByDescending(p => p.Value)
            .Select(p => $"{p.Key[5..]} {100.0 * p.Value / Math.Max(1, waits.Total):F1}%");
        var others = waits.ByEvent.Where(p => !Lock(p.Key)).OrderByDescending(p => p.Value).Take(6)
            .Select(p => $"{p.Key} {100.0 * p.Value / Math.Max(1, waits.Total):F1}%");
        w.WriteLine($"  {r.Scenario} @{r.Clients}: {waits.Samples} samples, {waits.Total} backend-samples, "
            + $"{(double)waits.Total / Math.Max(1, waits.Samples):F1} busy backends on average");
        w.WriteLine($"    waiting on a Lock: {Pct(Lock)}" + (lockKinds.Any() ? $" ({string.Join(", ", lockKinds)})" : ""));
        w.WriteLine($"    everything else:   {Pct(k => !Lock(k))} ({string.Join(", ", others)})");
        foreach (var (statement, count) in waits.LockedStatements.OrderByDescending(p => p.Value).Take(3))
            w.WriteLine($"    lock-waiting statement x{count}: {statement}");
    }

    private static void Target(TextWriter w, bool? met, string target, string actual) =>
        w.WriteLine($"  [{(met is null ? " -- " : met.Value ? "PASS" : "FAIL")}] {target}: {actual}");

    private static string Ms(double ms) => double.IsNaN(ms) ? "-" : ms.ToString(ms < 10 ? "F2" : "F1", CultureInfo.InvariantCulture);

    private static void WriteTable(TextWriter w, List<string[]> table)
    {
        var widths = Enumerable.Range(0, table[0].Length).Select(i => table.Max(r => r[i].Length)).ToArray();
        string Line(string[] cells) => "| " + string.Join(" | ", cells.Select((c, i) => i == 0 ? c.PadRight(widths[i]) : c.PadLeft(widths[i]))) + " |";
        w.WriteLine(Line(table[0]));
        w.WriteLine("|" + string.Join("|", widths.Select((n, i) => i == 0 ? new string('-', n + 2) : new string('-', n + 1) + ":")) + "|");
        foreach (var row in table.Skip(1)) w.WriteLine(Line(row));
    }
}
