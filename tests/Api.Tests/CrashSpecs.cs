using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Ledger.Testing;
using Shouldly;
using Xunit;

namespace Ledger.Api.Tests;

/// <summary>The real Host process, killed with SIGKILL between PaymentRequested and the outcome.</summary>
public sealed class CrashSpecs : IAsyncLifetime
{
    private readonly TestDatabase _db = new();
    private readonly int _port = FreePort();
    private Process? _host;

    public ValueTask InitializeAsync() => _db.InitializeAsync();

    [Fact]
    public async Task A_host_killed_after_the_request_is_committed_ends_with_one_charge_and_the_key_answering_the_final_payment()
    {
        await StartHostAsync();
        using var client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{_port}"), Timeout = TimeSpan.FromSeconds(60) };
        client.DefaultRequestHeaders.Authorization = new("Bearer", LedgerApp.Acme);
        var key = Requests.NewKey();
        var body = Requests.Charge(amount: 777);

        var doomed = client.Charge(body, key); // the gateway books the charge, then takes 5 s to answer
        await _db.WaitUntil("select count(*) > 0 from gateway_simulator_charges where amount = 777 and outcome = 'approved'");
        _host!.Kill(entireProcessTree: true); // SIGKILL: no shutdown hooks, nothing flushed
        await _host.WaitForExitAsync();
        await Should.ThrowAsync<Exception>(() => doomed);

        var paymentId = await _db.ScalarAsync<string>("select stream_id from events where type = 'payment_requested' and metadata->>'idempotencyKey' = $1", key);
        (await _db.ScalarAsync<long>("select count(*) from events where stream_id = $1", paymentId)).ShouldBe(1);
        (await _db.ScalarAsync<string>("select status from payment_views where id = $1", paymentId)).ShouldBe("pending");

        await StartHostAsync();
        await _db.WaitUntil("select status <> 'pending' from payment_views where id = $1", paymentId);

        var retry = await client.Charge(body, key);
        retry.StatusCode.ShouldBe(HttpStatusCode.Created);
        retry.Headers.GetValues("Idempotent-Replayed").Single().ShouldBe("true");
        var payment = await retry.Json();
        (payment.Str("id"), payment.Str("status")).ShouldBe((paymentId, "succeeded"));
        (await _db.ScalarAsync<long>("select count(*) from gateway_simulator_charges where gateway_key = $1", paymentId)).ShouldBe(1);
        (await _db.ScalarAsync<long>("select count(*) from events where stream_id = $1 and type = 'payment_charged'", paymentId)).ShouldBe(1);
    }

    private async Task StartHostAsync()
    {
        var psi = new ProcessStartInfo("dotnet") { WorkingDirectory = AppContext.BaseDirectory, RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "Ledger.Host.dll"));
        psi.ArgumentList.Add("--urls");
        psi.ArgumentList.Add($"http://127.0.0.1:{_port}");
        psi.Environment["ASPNETCORE_ENVIRONMENT"] = "Development";
        psi.Environment["ConnectionStrings__Ledger"] = _db.ConnectionString;
        psi.Environment["Ledger__Gateway__Simulator__LatencyMs"] = "5000";
        psi.Environment["Ledger__Idempotency__Lease"] = "00:00:01";
        psi.Environment["Ledger__Sweep__PendingAfter"] = "00:00:01";
        psi.Environment["Ledger__Sweep__Interval"] = "00:00:00.200";
        _host = Process.Start(psi)!;
        _host.OutputDataReceived += (_, _) => { };
        _host.ErrorDataReceived += (_, _) => { };
        _host.BeginOutputReadLine();
        _host.BeginErrorReadLine();
        using var probe = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (true)
        {
            try
            {
                if ((await probe.GetAsync($"http://127.0.0.1:{_port}/health/ready")).IsSuccessStatusCode) return;
            }
            catch (HttpRequestException) { /* not listening yet */ }
            catch (TaskCanceledException) { /* not answering yet */ }
            if (_host.HasExited) throw new InvalidOperationException($"The host exited with {_host.ExitCode} before it was ready.");
            if (DateTime.UtcNow > deadline) throw new TimeoutException("The host was not ready within 60 s.");
            await Task.Delay(100);
        }
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    public async ValueTask DisposeAsync()
    {
        if (_host is { HasExited: false }) _host.Kill(entireProcessTree: true);
        if (_host is not null) await _host.WaitForExitAsync();
        await _db.DisposeAsync();
    }
}
