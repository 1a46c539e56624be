using System.Globalization;
using Npgsql;

namespace Ledger.Bench;

/// <summary>
/// Runs every scenario against a ledger host that bench/run.sh started, then prints one table and the targets.
/// Progress goes to stderr, the results to stdout.
/// </summary>
public static class Program
{
    public static async Task<int> Main(string[] args)
    {
        CultureInfo.DefaultThreadCurrentCulture = CultureInfo.InvariantCulture;
        CultureInfo.CurrentCulture = CultureInfo.InvariantCulture;
        Options o;
        try
        {
            o = Options.Parse(args);
        }
        catch (ArgumentException e)
        {
            await Console.Error.WriteLineAsync($"Ledger.Bench: {e.Message}\n{Options.Usage}");
            return 2;
        }
        return await new Bench(o).RunAsync();
    }
}

public sealed class Bench(Options o)
{
    private readonly TextWriter _log = Console.Error;
    private readonly PaymentPool _pool = new();
    private readonly ProcessMemory _host = new(o.HostPid);
    private readonly WaitSampler _waits = new(o.ConnectionString, o.Database);
    private readonly List<RunResult> _rows = [];

    public async Task<int> RunAsync()
    {
        using var http = Api.CreateClient(o.Url);
        var api = new Api(http);
        var runId = $"b{DateTime.UtcNow:HHmmss}{Random.Shared.Next(1000, 9999)}";
        var scenarios = new Scenarios(api, o.MerchantKeys, _pool, runId);
        var startupPeakKb = _host.TakePeakAndReset();
        var many = o.MerchantKeys.Count;
        RunResult? oneAtFocus = null, manyAtFocus = null;
        var paired = new List<RunResult>();

        if (o.Runs("charge"))
        {
            foreach (var c in o.Clients)
            {
                var r = await MeasureAsync("charge, 1 merchant", c, scenarios.Charge($"one{c}", 1), sampleWaits: c == o.FocusClients);
                if (c == o.FocusClients) oneAtFocus = r;
            }
            if (many > 1)
            {
                foreach (var c in o.Clients)
                {
                    var r = await MeasureAsync($"charge, {many} merchants", c, scenarios.Charge($"many{c}", many), sampleWaits: c == o.FocusClients);
                    if (c == o.FocusClients) manyAtFocus = r;
                }
                // The rows above run one after another on a database that keeps growing, with checkpoints in between:
                // whichever runs later is handicapped. The one-vs-many verdict comes from a paired run in ABBA order
                // (one, many, many, one) at the focus concurrency, so a linear drift cancels out.
                for (var i = 0; i < 4; i++)
                {
                    var m = i is 0 or 3 ? 1 : many;
                    paired.Add(await MeasureAsync($"paired: charge, {m} merchant{(m == 1 ? "" : "s")}", o.FocusClients, scenarios.Charge($"pair{i}", m)));
                }
            }
        }
        string? grpcReport = null;
        if (o.Runs("grpc"))
            grpcReport = o.GrpcUrl is { } grpcUrl ? await GrpcAsync(http, grpcUrl, scenarios, runId) : "grpc: skipped (no --grpc-url)";
        // Issue 14: bench/run.sh runs these on hosts of their own (without the broker / with it), in ABBA order.
        if (o.Runs("webhooks-off"))
            await MeasureAsync($"webhooks off: charge, {many} merchants", o.FocusClients, scenarios.Charge("whoff", many));
        string? webhooks = null;
        if (o.Runs("webhooks-on"))
        {
            await using var receiver = await WebhookReceiver.StartAsync();
            await receiver.RegisterAsync(api, o.MerchantKeys);
            await WebhookReceiver.WaitForDispatcherAsync(o.ConnectionString, TimeSpan.FromSeconds(60));
            var measuredFrom = DateTimeOffset.UtcNow + o.Warmup;
            await MeasureAsync($"webhooks on: charge, {many} merchants", o.FocusClients, scenarios.Charge("whon", many));
            webhooks = await receiver.DrainAsync(o.ConnectionString, TimeSpan.FromMinutes(2), measuredFrom);
            await receiver.UnregisterAsync(api);
            _log.WriteLine("  " + webhooks);
        }

        if (o.Runs("replay") || o.Runs("mixed") || o.Runs("read")) await EnsurePaymentsAsync(scenarios);
        if (o.Runs("replay"))
            await MeasureAsync("replay (same key, same body)", o.FocusClients, scenarios.Replay(o.FocusClients));
        RunResult? mixed = null;
        if (o.Runs("mixed"))
            mixed = await MeasureAsync("mixed 70/10/10/10", o.FocusClients, scenarios.Mixed(many));
        if (o.Runs("read"))
        {
            await MeasureAsync("read: GET /v1/payments/{id}", o.FocusClients, scenarios.ReadOne());
            await MeasureAsync("read: GET /v1/payments?limit=10", o.FocusClients, scenarios.ReadList(many));
        }

        var ceilings = new Dictionary<int, RunResult>();
        if (o.Runs("ceiling"))
        {
            var ceiling = new Ceiling(o.Pgbench, o.PgbenchScript, o.PgPort, o.Database, o.PostmasterPid);
            foreach (var c in o.Clients)
            {
                _log.WriteLine($"ceiling: pgbench, {c} clients, {o.Warmup.TotalSeconds:0}+{o.Duration.TotalSeconds:0} s...");
                var r = await ceiling.RunAsync(c, o.Warmup, o.Duration);
                ceilings[c] = r;
                _rows.Add(r);
                Progress(r);
            }
        }

        RunResult? rebuild = null;
        var rebuildStatus = "skipped (BENCH_SCENARIOS)";
        if (o.Runs("rebuild") && o.RebuildEvents > 0)
        {
            rebuild = await new RebuildHook(o.HostDll, o.SeedDll, o.HostConnectionString, o.RebuildEvents).RunAsync(_log);
            rebuildStatus = rebuild is null ? "not yet available" : "done";
            if (rebuild is not null) _rows.Add(rebuild);
        }
        else if (o.RebuildEvents <= 0) rebuildStatus = "skipped (BENCH_REBUILD_EVENTS=0)";

        var overallPeakKb = Math.Max(_host.OverallPeakKb, startupPeakKb ?? 0);
        Report.Print(Console.Out, o, _rows, ceilings, oneAtFocus, manyAtFocus, paired, mixed, rebuild, rebuildStatus, overallPeakKb);
        if (webhooks is not null) Console.Out.WriteLine(webhooks);
        if (grpcReport is not null) Console.Out.WriteLine(grpcReport);
        return 0;
    }

    /// <summary>
    /// Issue 18: charges over gRPC against the same charges over HTTP in ABBA order (HTTP, gRPC, gRPC, HTTP) at the focus
    /// concurrency; WatchLog's rate for one subscriber catching up with the whole log; four subscribers' lag while charges run.
    /// </summary>
    private async Task<string> GrpcAsync(HttpClient http, Uri grpcUrl, Scenarios scenarios, string runId)
    {
        using var channel = GrpcScenarios.Connect(grpcUrl);
        var grpc = new GrpcScenarios(channel, o.MerchantKeys, runId);
        var overHttp = new List<RunResult>();
        var overGrpc = new List<RunResult>();
        for (var i = 0; i < 4; i++)
        {
            if (i is 0 or 3) overHttp.Add(await MeasureAsync("paired: charge over HTTP, 1 merchant", o.FocusClients, scenarios.Charge($"gh{i}", 1)));
            else overGrpc.Add(await MeasureAsync("paired: charge over gRPC, 1 merchant", o.FocusClients, grpc.Charge($"gg{i}")));
        }
        var ratio = overGrpc.Average(r => r.PerSecond) / overHttp.Average(r => r.PerSecond);

        var head = await GrpcScenarios.HeadAsync(http, o.Url, CancellationToken.None);
        _log.WriteLine($"grpc: WatchLog, one subscriber catching up with {head} events...");
        var (events, took) = await grpc.CatchUpAsync(head, CancellationToken.None);
        var rate = events / took.TotalSeconds;
        _log.WriteLine($"  {events} events in {took.TotalSeconds:F2} s: {rate:F0} events/s");

        const int subscribers = 4;
        var (lagsTask, stop) = grpc.Watch(subscribers, head);
        var live = await MeasureAsync($"charge over HTTP, {subscribers} WatchLog subscribers", o.FocusClients, scenarios.Charge("gw", 1));
        await Task.Delay(TimeSpan.FromSeconds(1));
        await stop.CancelAsync();
        var lags = await lagsTask;
        string Lag(List<double> l)
        {
            if (l.Count == 0) return "no events";
            l.Sort();
            return $"{l.Count} events, lag p50 {l[l.Count / 2]:F0} ms, p99 {l[(int)(l.Count * 0.99)]:F0} ms, max {l[^1]:F0} ms";
        }
        return string.Join('\n',
            $"gRPC charge against HTTP charge (ABBA at {o.FocusClients} clients): {ratio:P0} (gRPC {string.Join(", ", overGrpc.Select(r => r.PerSecond.ToString("F0")))}/s; " +
            $"HTTP {string.Join(", ", overHttp.Select(r => r.PerSecond.ToString("F0")))}/s); target >= 100%",
            $"WatchLog catch-up, one subscriber: {events} events in {took.TotalSeconds:F2} s = {rate:F0} events/s; target >= 20,000",
            $"WatchLog lag while charging at {live.PerSecond:F0}/s ({subscribers} subscribers; target < 1 s each):",
            string.Join('\n', lags.Select((l, i) => $"  subscriber {i + 1}: {Lag(l)}")));
    }

    private async Task<RunResult> MeasureAsync(
        string name, int clients, Func<Worker, CancellationToken, Task<Outcome>> step, bool sampleWaits = false)
    {
        _log.WriteLine($"{name}, {clients} clients, {o.Warmup.TotalSeconds:0}+{o.Duration.TotalSeconds:0} s...");
        _host.TakePeakAndReset();
        using var watching = new CancellationTokenSource();
        var rss = _host.WatchAsync(watching.Token);
        WaitStats? waits = null;
        var cpu = new CpuWindow(o.HostPid, o.PostmasterPid);
        (double? Host, double? Pg) used = default;
        var result = await Load.RunAsync(name, clients, o.Warmup, o.Duration, step, async window =>
        {
            cpu.Start();
            if (sampleWaits) waits = await _waits.SampleAsync(TimeSpan.FromMilliseconds(200), window);
            else await Task.Delay(Timeout.Infinite, window).ContinueWith(_ => { }, TaskScheduler.Default);
            used = cpu.Stop();
        });
        await watching.CancelAsync();
        result.HostPeakRssKb = await rss;
        result.Waits = waits;
        (result.HostCpuSeconds, result.PgCpuSeconds) = used;
        _rows.Add(result);
        Progress(result);
        return result;
    }

    private void Progress(RunResult r) => _log.WriteLine(
        $"  {r.PerSecond:F0}/s  p50 {r.Latency.PercentileMs(50):F1} ms  p99 {r.Latency.PercentileMs(99):F1} ms  ok {r.Ok}  expected {r.Expected}  errors {r.Errors}"
        + $"  CPU ms/req host {r.HostCpuMsPerRequest:F2} pg {r.PgCpuMsPerRequest:F2}"
        + (r.Details.Count > 0 ? "  [" + string.Join("; ", r.Details.OrderByDescending(d => d.Value).Take(3).Select(d => $"{d.Key} x{d.Value}")) + "]" : ""));

    /// <summary>The replay, refund and read scenarios need succeeded payments: make some if no charge scenario ran.</summary>
    private async Task EnsurePaymentsAsync(Scenarios scenarios)
    {
        if (_pool.Count >= 100) return;
        _log.WriteLine("priming: charges for the replay, mixed and read scenarios (not reported)...");
        await Load.RunAsync("prime", o.FocusClients, TimeSpan.Zero, TimeSpan.FromSeconds(3), scenarios.Charge("prime", o.MerchantKeys.Count));
        if (_pool.Count == 0) throw new InvalidOperationException("No charge succeeded: nothing to replay, refund or read.");
    }
}

public sealed record Options(
    Uri Url, int HostPid, string HostDll, int PgPort, int? PostmasterPid, string Database, string Pgbench, string PgbenchScript, string SeedDll, string HostConnectionString,
    IReadOnlyList<string> MerchantKeys, IReadOnlyList<int> Clients, int FocusClients, TimeSpan Duration, TimeSpan Warmup,
    double? StartupMs, long RebuildEvents, IReadOnlySet<string> Scenarios, string Machine, Uri? GrpcUrl = null)
{
    /// <summary>For the driver's own watching: one unpooled connection, named so it is easy to tell apart.</summary>
    public string ConnectionString => $"Host=127.0.0.1;Port={PgPort};Username=postgres;Database={Database};Pooling=false;Application Name=ledger-bench";

    public bool Runs(string scenario) => Scenarios.Contains(scenario);

    public const string Usage = """
        usage: Ledger.Bench --url URL --host-pid PID --host-dll PATH --pg-port PORT [--pg-pid POSTMASTER_PID] --pgbench PATH --pgbench-script PATH
               --seed-dll PATH --connection-string CS --merchant-keys K1,K2,... [--database ledger] [--clients 1,8,32,64] [--focus-clients 32]
               [--seconds 20] [--warmup 2] [--startup-ms MS] [--rebuild-events 1000000]
               [--scenarios charge,replay,mixed,read,ceiling,rebuild,grpc] [--machine TEXT] [--grpc-url URL]
        Normally started by bench/run.sh, which also starts PostgreSQL and the host.
        """;

    public static Options Parse(string[] args)
    {
        var values = new Dictionary<string, string>();
        for (var i = 0; i < args.Length; i++)
        {
            if (!args[i].StartsWith("--", StringComparison.Ordinal) || i + 1 >= args.Length)
                throw new ArgumentException($"unexpected argument '{args[i]}'");
            values[args[i][2..]] = args[++i];
        }
        string Need(string name) => values.GetValueOrDefault(name) ?? throw new ArgumentException($"--{name} is required");
        string Get(string name, string fallback) => values.GetValueOrDefault(name) ?? fallback;
        int Int(string text, string name) => int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var v) && v >= 0
            ? v : throw new ArgumentException($"--{name}: '{text}' is not a number");
        double Seconds(string name, string fallback) =>
            double.TryParse(Get(name, fallback), NumberStyles.Float, CultureInfo.InvariantCulture, out var v) && v >= 0
                ? v : throw new ArgumentException($"--{name} is not a number of seconds");

        var clients = Get("clients", "1,8,32,64").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(c => Int(c, "clients")).Where(c => c > 0).Distinct().Order().ToList();
        if (clients.Count == 0) throw new ArgumentException("--clients needs at least one positive number");
        var keys = Need("merchant-keys").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (keys.Length == 0) throw new ArgumentException("--merchant-keys needs at least one key");
        var focus = Int(Get("focus-clients", "32"), "focus-clients");
        return new Options(
            Url: new Uri(Need("url")),
            HostPid: Int(Need("host-pid"), "host-pid"),
            HostDll: Need("host-dll"),
            PgPort: Int(Need("pg-port"), "pg-port"),
            PostmasterPid: values.TryGetValue("pg-pid", out var pgPid) && int.TryParse(pgPid, CultureInfo.InvariantCulture, out var pp) ? pp : null,
            Database: Get("database", "ledger"),
            Pgbench: Need("pgbench"),
            PgbenchScript: Need("pgbench-script"),
            SeedDll: Need("seed-dll"),
            HostConnectionString: Need("connection-string"),
            MerchantKeys: keys,
            Clients: clients,
            FocusClients: focus > 0 ? focus : 32,
            Duration: TimeSpan.FromSeconds(Math.Max(1, Seconds("seconds", "20"))),
            Warmup: TimeSpan.FromSeconds(Seconds("warmup", "2")),
            StartupMs: values.TryGetValue("startup-ms", out var s) && double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out var ms) ? ms : null,
            RebuildEvents: long.Parse(Get("rebuild-events", "1000000"), CultureInfo.InvariantCulture),
            Scenarios: Get("scenarios", "charge,replay,mixed,read,ceiling,rebuild")
                .Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).ToHashSet(),
            Machine: Get("machine", ""),
            GrpcUrl: values.TryGetValue("grpc-url", out var grpcUrl) ? new Uri(grpcUrl) : null);
    }
}
