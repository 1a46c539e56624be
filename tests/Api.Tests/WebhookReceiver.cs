using System.Collections.Concurrent;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Ledger.Api.Tests;

/// <summary>A request a webhook receiver got: the raw body, its signature header, and when.</summary>
public sealed record ReceivedWebhook(string Body, string? Signature, string? EventIdHeader, DateTimeOffset At, int AnsweredWith,
    string? CorrelationId = null, string? TraceParent = null)
{
    public JsonElement Json => JsonDocument.Parse(Body).RootElement;
    public string EventId => Json.GetProperty("id").GetString()!;
    public string Type => Json.GetProperty("type").GetString()!;
    public string PaymentId => Json.GetProperty("data").GetProperty("payment").GetProperty("id").GetString()!;
    public long Version => Json.GetProperty("data").GetProperty("payment").GetProperty("version").GetInt64();
}

/// <summary>
/// A real HTTP server on a loopback port (Kestrel) that records every webhook it is sent. It can be taken down and
/// brought back on the same port, made to answer an error, or made slow.
/// </summary>
public sealed class WebhookReceiver : IAsyncDisposable
{
    private WebApplication? _app;
    public int Port { get; } = HostProcess.FreePort();
    public string Url => $"http://127.0.0.1:{Port}/hooks";
    public ConcurrentQueue<ReceivedWebhook> Received { get; } = new();
    /// <summary>The status code to answer with (200 unless a test says otherwise).</summary>
    public int AnswerWith { get; set; } = 200;
    public TimeSpan Delay { get; set; } = TimeSpan.Zero;

    public async Task StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls($"http://127.0.0.1:{Port}");
        builder.Logging.ClearProviders();
        _app = builder.Build();
        _app.MapPost("/hooks", async (HttpContext http) =>
        {
            using var reader = new StreamReader(http.Request.Body);
            var body = await reader.ReadToEndAsync();
            if (Delay > TimeSpan.Zero) await Task.Delay(Delay);
            var status = AnswerWith;
            Received.Enqueue(new ReceivedWebhook(body, http.Request.Headers["Ledger-Signature"].FirstOrDefault(),
                http.Request.Headers["Ledger-Event-Id"].FirstOrDefault(), DateTimeOffset.UtcNow, status,
                http.Request.Headers["X-Correlation-Id"].FirstOrDefault(), http.Request.Headers["traceparent"].FirstOrDefault()));
            return Results.StatusCode(status);
        });
        await _app.StartAsync();
    }

    /// <summary>Down: the port refuses connections until <see cref="StartAsync"/> again.</summary>
    public async Task StopAsync()
    {
        if (_app is null) return;
        await _app.StopAsync();
        await _app.DisposeAsync();
        _app = null;
    }

    /// <summary>What was answered with a 2xx, first receipt of each event, in the order received.</summary>
    public List<ReceivedWebhook> Accepted() =>
        Received.Where(r => r.AnsweredWith is >= 200 and < 300).GroupBy(r => r.EventId).Select(g => g.First()).OrderBy(r => r.At).ToList();

    /// <summary>Waits, with a deadline, until <paramref name="condition"/> holds of what was received.</summary>
    public async Task WaitUntil(Func<IReadOnlyCollection<ReceivedWebhook>, bool> condition, TimeSpan? within = null, string? what = null)
    {
        var deadline = DateTime.UtcNow + (within ?? TimeSpan.FromSeconds(30));
        while (!condition(Received.ToArray()))
        {
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException($"The receiver did not get {what ?? "what was expected"} in time; it got {Received.Count} requests.");
            await Task.Delay(20);
        }
    }

    public async ValueTask DisposeAsync() => await StopAsync();
}
