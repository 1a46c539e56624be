using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;

namespace Ledger.Bench;

/// <summary>
/// The database's ceiling for charges: pgbench runs bench/pgbench/charge.sql, the SQL of one whole charge, against the
/// same cluster and database. pgbench calls one run of its script a "transaction"; here one run = one charge
/// (three commits and two reads), so its tps compares directly with the ledger's charges per second.
/// </summary>
public sealed partial class Ceiling(string pgbench, string script, int port, string database, int? postmasterPid)
{
    public async Task<RunResult> RunAsync(int clients, TimeSpan warmup, TimeSpan duration)
    {
        var threads = Math.Min(clients, Environment.ProcessorCount);
        var common = new List<string> { "-n", "-M", "prepared", "-h", "127.0.0.1", "-p", port.ToString(CultureInfo.InvariantCulture),
            "-U", "postgres", "-c", clients.ToString(CultureInfo.InvariantCulture), "-j", threads.ToString(CultureInfo.InvariantCulture),
            "-f", script };
        var name = $"ceiling: pgbench charge.sql";
        if (warmup >= TimeSpan.FromSeconds(1))
            await Exec.RunAsync(pgbench, [.. common, "-T", Seconds(warmup), database], warmup + TimeSpan.FromMinutes(2));

        var logs = Directory.CreateTempSubdirectory("ledger-bench-pgbench-");
        try
        {
            var cpu = new CpuWindow(Environment.ProcessId, postmasterPid);
            cpu.Start();
            var run = await Exec.RunAsync(pgbench,
                [.. common, "-T", Seconds(duration), "-l", "--log-prefix", Path.Combine(logs.FullName, "pgb"), database],
                duration + TimeSpan.FromMinutes(2));
            var (_, pgSeconds) = cpu.Stop();
            var processed = Number(ProcessedLine(), run.Stdout);
            var failed = Number(FailedLine(), run.Stdout);
            var tps = TpsLine().Match(run.Stdout) is { Success: true } m ? double.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture) : 0;
            // Per-transaction log lines: client_id transaction_no latency_us script_no epoch_s epoch_us.
            var latencies = Directory.EnumerateFiles(logs.FullName, "pgb*")
                .SelectMany(File.ReadLines)
                .Select(line => line.Split(' '))
                .Where(f => f.Length >= 3 && long.TryParse(f[2], out _))
                .Select(f => long.Parse(f[2], CultureInfo.InvariantCulture) * 1000);
            var aborted = run.ExitCode != 0;
            var details = new Dictionary<string, long>();
            if (aborted) details["error pgbench exit " + run.ExitCode + ": " + FirstError(run)] = 1;
            return new RunResult
            {
                Scenario = name,
                Clients = clients,
                Seconds = tps > 0 ? processed / tps : duration.TotalSeconds,
                Latency = Latencies.Of(latencies),
                ByOperation = new Dictionary<string, Latencies>(),
                Ok = processed - failed,
                Errors = failed + (aborted ? 1 : 0),
                Details = details,
                Note = "1 run = 1 charge",
                PgCpuSeconds = pgSeconds,
            };
        }
        finally
        {
            logs.Delete(recursive: true);
        }
    }

    private static string Seconds(TimeSpan t) => Math.Max(1, (int)Math.Round(t.TotalSeconds)).ToString(CultureInfo.InvariantCulture);

    private static long Number(Regex regex, string text) =>
        regex.Match(text) is { Success: true } m ? long.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture) : 0;

    private static string FirstError(Exec.Result run) =>
        (run.Stderr + run.Stdout).Split('\n').FirstOrDefault(l => l.Contains("error", StringComparison.OrdinalIgnoreCase))?.Trim() ?? "see pgbench output";

    [GeneratedRegex(@"number of transactions actually processed: (\d+)")]
    private static partial Regex ProcessedLine();

    [GeneratedRegex(@"number of failed transactions: (\d+)")]
    private static partial Regex FailedLine();

    [GeneratedRegex(@"tps = ([0-9.]+) \(without initial connection time\)")]
    private static partial Regex TpsLine();
}

/// <summary>Runs a program to completion with a deadline, capturing its output.</summary>
public static class Exec
{
    public sealed record Result(int ExitCode, string Stdout, string Stderr, TimeSpan Elapsed);

    public static async Task<Result> RunAsync(
        string file, IEnumerable<string> args, TimeSpan timeout,
        IDictionary<string, string>? environment = null, string? workingDirectory = null,
        Func<int, CancellationToken, Task>? whileRunning = null)
    {
        var info = new ProcessStartInfo(file)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = workingDirectory ?? Environment.CurrentDirectory,
        };
        foreach (var a in args) info.ArgumentList.Add(a);
        if (environment is not null) foreach (var (k, v) in environment) info.Environment[k] = v;

        var clock = Stopwatch.StartNew();
        using var process = Process.Start(info) ?? throw new InvalidOperationException($"Could not start {file}.");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var watching = new CancellationTokenSource();
        var watcher = whileRunning?.Invoke(process.Id, watching.Token) ?? Task.CompletedTask;
        using var deadline = new CancellationTokenSource(timeout);
        try
        {
            await process.WaitForExitAsync(deadline.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync(CancellationToken.None);
            await watching.CancelAsync();
            await watcher;
            return new Result(-1, await stdout, await stderr + $"\n{file}: killed after the {timeout} deadline", clock.Elapsed);
        }
        var elapsed = clock.Elapsed;
        await watching.CancelAsync();
        await watcher;
        return new Result(process.ExitCode, await stdout, await stderr, elapsed);
    }
}
