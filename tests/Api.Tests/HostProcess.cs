using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace Ledger.Api.Tests;

/// <summary>The real Ledger.Host executable on a loopback port, which a test may SIGKILL and start again.</summary>
public sealed class HostProcess(string connectionString, IReadOnlyDictionary<string, string>? settings = null) : IAsyncDisposable
{
    private readonly int _port = FreePort();
    private Process? _process;
    private readonly System.Collections.Concurrent.ConcurrentQueue<string> _output = new();

    /// <summary>The host's last lines of output, for failure messages.</summary>
    public string RecentOutput => string.Join('\n', _output);

    private readonly System.Collections.Concurrent.ConcurrentQueue<string> _all = new();

    /// <summary>Every line the host wrote, across restarts.</summary>
    public IReadOnlyCollection<string> Output => _all;

    private readonly System.Collections.Concurrent.ConcurrentQueue<string> _errors = new();
    private volatile bool _inError;

    /// <summary>
    /// Every entry the host logged at error level or above with its exception, across restarts (the first 200 lines): JSON lines, or the
    /// development format's "[HH:mm:ss ERR]" (until v2 this looked for "[ERR]", which that format never writes).
    /// </summary>
    public string ErrorOutput => string.Join('\n', _errors);

    private void Keep(string? line)
    {
        if (line is null) return;
        // A development-format entry starts with "[" (JSON ones with "{"); the lines after an error's are its exception.
        if (line.StartsWith('[') || line.StartsWith('{'))
            _inError = line.Contains("\"Error\"", StringComparison.Ordinal) || line.Contains("\"Fatal\"", StringComparison.Ordinal)
                || line.Contains(" ERR]", StringComparison.Ordinal) || line.Contains(" FTL]", StringComparison.Ordinal);
        if (_inError && _errors.Count < 200) _errors.Enqueue(line);
        _output.Enqueue(line);
        _all.Enqueue(line);
        while (_output.Count > 40) _output.TryDequeue(out _);
    }

    /// <summary>Leases and the sweep in seconds, not minutes, so a test sees recovery happen.</summary>
    public static Dictionary<string, string> FastRecovery(params (string Key, string Value)[] more)
    {
        var settings = new Dictionary<string, string>
        {
            ["Ledger:Idempotency:Lease"] = "00:00:01",
            ["Ledger:Sweep:PendingAfter"] = "00:00:01",
            ["Ledger:Sweep:Interval"] = "00:00:00.250",
            // The cluster's heartbeats (Cluster.cs): a lone host runs the sweep within a second or two, and a dead
            // host's sweep moves to a live one within about 15 s.
            ["Ledger:Cluster:FirstHeartbeatAfter"] = "00:00:00.250",
            ["Ledger:Cluster:HeartbeatEvery"] = "00:00:02",
            ["Ledger:Cluster:StaleAfter"] = "00:00:10",
            ["Ledger:Cluster:CheckAssignmentsEvery"] = "00:00:05",
        };
        foreach (var (key, value) in more) settings[key] = value;
        return settings;
    }

    public Uri Url => new($"http://127.0.0.1:{_port}");
    public bool Running => _process is { HasExited: false };

    public HttpClient Client(string? apiKey, TimeSpan? timeout = null)
    {
        var client = new HttpClient { BaseAddress = Url, Timeout = timeout ?? TimeSpan.FromSeconds(30) };
        if (apiKey is not null) client.DefaultRequestHeaders.Authorization = new("Bearer", apiKey);
        return client;
    }

    /// <summary>Starts the host and waits, with a deadline, until /health/ready answers 200.</summary>
    public async Task StartAsync()
    {
        Launch();
        await WaitUntilReadyAsync();
    }

    /// <summary>Starts the host process and returns at once.</summary>
    public void Launch()
    {
        var psi = new ProcessStartInfo("dotnet") { WorkingDirectory = AppContext.BaseDirectory, RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "Ledger.Host.dll"));
        psi.ArgumentList.Add("--urls");
        psi.ArgumentList.Add(Url.ToString().TrimEnd('/'));
        psi.Environment["ASPNETCORE_ENVIRONMENT"] = "Development";
        psi.Environment["ConnectionStrings__Ledger"] = connectionString;
        psi.Environment["Serilog__MinimumLevel__Default"] = "Warning";
        foreach (var (key, value) in settings ?? new Dictionary<string, string>()) psi.Environment[key.Replace(":", "__")] = value;
        _process = Process.Start(psi)!;
        _process.OutputDataReceived += (_, e) => Keep(e.Data);
        _process.ErrorDataReceived += (_, e) => Keep(e.Data);
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
    }

    /// <summary>Waits, with a deadline, until /health/ready answers 200; fails if the process exits first.</summary>
    public async Task WaitUntilReadyAsync()
    {
        if (_process is null) throw new InvalidOperationException("The host was not launched.");
        using var probe = new HttpClient { BaseAddress = Url, Timeout = TimeSpan.FromSeconds(2) };
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (true)
        {
            try
            {
                if ((await probe.GetAsync("/health/ready")).IsSuccessStatusCode) return;
            }
            catch (HttpRequestException) { /* not listening yet */ }
            catch (TaskCanceledException) { /* not answering yet */ }
            if (_process.HasExited) throw new InvalidOperationException($"The host exited with {_process.ExitCode} before it was ready:\n{RecentOutput}");
            if (DateTime.UtcNow > deadline) throw new TimeoutException("The host was not ready within 60 s.");
            await Task.Delay(100);
        }
    }

    /// <summary>The process's exit code once it has exited by itself, waiting at most <paramref name="within"/>.</summary>
    public async Task<int> ExitCodeAsync(TimeSpan within)
    {
        if (_process is null) throw new InvalidOperationException("The host was not launched.");
        using var timeout = new CancellationTokenSource(within);
        await _process.WaitForExitAsync(timeout.Token);
        return _process.ExitCode;
    }

    /// <summary>SIGTERM, as a container runtime or systemd stops a service.</summary>
    public void Terminate()
    {
        if (_process is { HasExited: false } && kill(_process.Id, 15) != 0)
            throw new InvalidOperationException($"kill -TERM {_process.Id} failed: errno {System.Runtime.InteropServices.Marshal.GetLastPInvokeError()}");
    }

    [System.Runtime.InteropServices.DllImport("libc", SetLastError = true)]
    private static extern int kill(int pid, int signal);

    /// <summary>SIGKILL: no shutdown hooks, nothing flushed.</summary>
    public async Task KillAsync()
    {
        if (_process is not { HasExited: false }) return;
        _process.Kill(entireProcessTree: true);
        await _process.WaitForExitAsync();
    }

    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    public async ValueTask DisposeAsync() => await KillAsync();
}
