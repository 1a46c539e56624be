using System.Globalization;
using System.Text.RegularExpressions;
using Npgsql;

namespace Ledger.Bench;

/// <summary>
/// ======== The rebuild scenario ========
/// `projections rebuild` (docs/operations.md, "Rebuilding projections") over 1,000,000 events, target >= 50,000 events/s.
/// Runs only if `Ledger.Host projections --help` lists a `rebuild` command (it did not before issue 6's rebuild work;
/// that help exited 0 printing the root help, so the check reads the text rather than the exit code). It tops the
/// event log up to the target with bench/Ledger.Seed (the store's bulk import: requested, charged and refunded
/// payments over 50 merchants, 3 currencies, 30 days), then runs the CLI's `projections rebuild` while the host
/// keeps serving. It reports the CLI's own events/s and, in the note, the wall-clock rate with process start-up.
/// </summary>
public sealed partial class RebuildHook(string hostDll, string seedDll, string connectionString, long targetEvents)
{
    public async Task<RunResult?> RunAsync(TextWriter log)
    {
        var environment = new Dictionary<string, string>
        {
            ["ConnectionStrings__Ledger"] = connectionString,
            ["ASPNETCORE_ENVIRONMENT"] = "Development",
            ["DOTNET_ENVIRONMENT"] = "Development",
            ["Serilog__MinimumLevel__Default"] = "Warning",
        };
        var dotnet = Environment.ProcessPath ?? "dotnet";
        var workingDirectory = Path.GetDirectoryName(hostDll)!;
        var help = await Exec.RunAsync(dotnet, [hostDll, "projections", "--help"], TimeSpan.FromMinutes(1), environment, workingDirectory);
        if (help.ExitCode != 0 || !help.Stdout.Contains("rebuild", StringComparison.Ordinal)) return null;

        var events = await CountEventsAsync();
        if (events < targetEvents)
        {
            log.WriteLine($"rebuild: seeding {targetEvents - events:N0} events with Ledger.Seed (the log has {events:N0})...");
            var seed = await Exec.RunAsync(dotnet, [seedDll, Math.Max(3, targetEvents - events).ToString(CultureInfo.InvariantCulture)],
                TimeSpan.FromMinutes(30), environment, Path.GetDirectoryName(seedDll));
            if (seed.ExitCode != 0) return Failed($"seeding failed (exit {seed.ExitCode}): {FirstLine(seed.Stderr + seed.Stdout)}");
            events = await CountEventsAsync();
        }

        log.WriteLine($"rebuild: projections rebuild over {events:N0} events...");
        long peakKb = 0;
        var run = await Exec.RunAsync(dotnet, [hostDll, "projections", "rebuild"], TimeSpan.FromMinutes(60), environment, workingDirectory,
            whileRunning: async (pid, ct) => peakKb = await new ProcessMemory(pid).WatchAsync(ct));
        if (run.ExitCode != 0) return Failed($"projections rebuild exit {run.ExitCode}: {FirstLine(run.Stderr + run.Stdout)}");

        var wallRate = events / run.Elapsed.TotalSeconds;
        // Spectre.Console wraps long lines at the console width and may colour them: flatten before matching.
        var reported = Summary().Match(Whitespace().Replace(Ansi().Replace(run.Stdout, ""), " "));
        var rate = reported.Success ? Number(reported.Groups["rate"].Value) : wallRate;
        var rebuilt = reported.Success ? Number(reported.Groups["events"].Value) : events;
        return new RunResult
        {
            Scenario = "rebuild: projections rebuild",
            Clients = 1,
            Seconds = rebuilt / Math.Max(1, rate),
            Latency = Latencies.Of([]),
            ByOperation = new Dictionary<string, Latencies>(),
            Ok = (long)rebuilt,
            HostPeakRssKb = peakKb > 0 ? peakKb : null,
            Note = reported.Success
                ? $"{reported.Value.Trim()} Wall clock with process start-up: {run.Elapsed.TotalSeconds:F1} s, {wallRate:N0} events/s; RSS column = the CLI process"
                : $"{events:N0} events in {run.Elapsed.TotalSeconds:F1} s wall clock (the CLI printed no summary); RSS column = the CLI process",
        };
    }

    private static RunResult Failed(string why) => new()
    {
        Scenario = "rebuild: projections rebuild",
        Clients = 1,
        Seconds = 1,
        Latency = Latencies.Of([]),
        ByOperation = new Dictionary<string, Latencies>(),
        Errors = 1,
        Details = new Dictionary<string, long> { ["error " + why] = 1 },
        Note = why,
    };

    private static string FirstLine(string text) => text.Split('\n').Select(l => l.Trim()).FirstOrDefault(l => l.Length > 0) ?? "";
    private static double Number(string text) => double.Parse(text.Replace(",", "", StringComparison.Ordinal), CultureInfo.InvariantCulture);

    // "Rebuilt payment_views, ...: 1,000,000 events (12 appended while rebuilding) in 18.6 s, 53,712 events/s."
    [GeneratedRegex(@"Rebuilt .*?: (?<events>[\d,]+) events .*? in [\d.,]+ s, (?<rate>[\d,]+) events/s\.")]
    private static partial Regex Summary();

    [GeneratedRegex(@"\x1b\[[0-9;?]*[A-Za-z]")]
    private static partial Regex Ansi();

    [GeneratedRegex(@"\s+")]
    private static partial Regex Whitespace();

    private async Task<long> CountEventsAsync()
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        // v2 keeps the log in Marten's tables (the view ledger.events); a v1 baseline in its own events table.
        await using var which = new NpgsqlCommand("select to_regclass('ledger.events') is not null", connection);
        var table = (bool)(await which.ExecuteScalarAsync())! ? "ledger.events" : "events";
        await using var cmd = new NpgsqlCommand($"select count(*) from {table}", connection);
        return (long)(await cmd.ExecuteScalarAsync())!;
    }
}
