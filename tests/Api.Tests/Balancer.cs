using System.Diagnostics;
using System.Net.Http.Headers;

namespace Ledger.Api.Tests;

/// <summary>
/// HAProxy (Debian's haproxy) in front of real host processes, with the configuration `make cluster` uses
/// (scripts/cluster.sh haproxy-config): round robin over the hosts whose /health/ready answers 200. Each answer names the
/// host that gave it in its Ledger-Host header (host1, host2, ...).
/// </summary>
public sealed class Balancer(IReadOnlyList<HostProcess> hosts) : IAsyncDisposable
{
    private readonly int _port = HostProcess.FreePort();
    private readonly string _config = Path.Combine(Path.GetTempPath(), $"ledger-haproxy-{Guid.NewGuid():N}.cfg");
    private Process? _process;

    public static bool Installed => File.Exists("/usr/sbin/haproxy") || File.Exists("/usr/bin/haproxy");
    public Uri Url => new($"http://127.0.0.1:{_port}");

    public HttpClient Client(string? apiKey, TimeSpan? timeout = null)
    {
        var client = new HttpClient { BaseAddress = Url, Timeout = timeout ?? TimeSpan.FromSeconds(30) };
        if (apiKey is not null) client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", apiKey);
        return client;
    }

    /// <summary>Starts HAProxy and waits until every host is up behind it (each answered a request through it).</summary>
    public async Task StartAsync()
    {
        var config = await ChildProcess.RunAsync(Path.Combine(ChildProcess.RepositoryRoot(), "scripts", "cluster.sh"),
            ["haproxy-config", _port.ToString(), .. hosts.Select(h => $"{h.Url.Host}:{h.Url.Port}")]);
        if (config.Exit != 0) throw new InvalidOperationException($"scripts/cluster.sh haproxy-config failed: {config.Output}");
        await File.WriteAllTextAsync(_config, config.Stdout);
        var psi = new ProcessStartInfo("haproxy") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { "-db", "-q", "-f", _config }) psi.ArgumentList.Add(a);
        _process = Process.Start(psi)!;
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
        using var probe = Client(null, TimeSpan.FromSeconds(2));
        var seen = new HashSet<string>();
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (seen.Count < hosts.Count)
        {
            if (_process.HasExited) throw new InvalidOperationException($"haproxy exited with {_process.ExitCode}");
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"Only {seen.Count} of {hosts.Count} hosts came up behind HAProxy in 30 s.");
            try
            {
                var answer = await probe.GetAsync("/health/ready");
                if (answer.IsSuccessStatusCode && HostOf(answer) is { } host) seen.Add(host);
            }
            catch (HttpRequestException) { /* not listening yet */ }
            catch (TaskCanceledException) { /* not answering yet */ }
            await Task.Delay(50);
        }
    }

    public static string? HostOf(HttpResponseMessage answer) =>
        answer.Headers.TryGetValues("Ledger-Host", out var values) ? values.FirstOrDefault() : null;

    public async ValueTask DisposeAsync()
    {
        if (_process is { HasExited: false })
        {
            _process.Kill();
            await _process.WaitForExitAsync();
        }
        _process?.Dispose();
        File.Delete(_config);
    }
}
