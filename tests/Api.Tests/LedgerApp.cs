using System.Collections.Concurrent;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Alba;
using Ledger.Testing;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Xunit;

namespace Ledger.Api.Tests;

/// <summary>
/// The ledger in-process over HTTP (an Alba host: <see cref="Host"/>'s <c>Scenario</c> for specifications, <see cref="Client"/>
/// for load and races), on a database of its own, with a clock tests can move forward.
/// </summary>
public class LedgerApp : IAsyncLifetime
{
    public const string Acme = "sk_test_acme";
    public const string Globex = "sk_test_globex";
    public const string Auditor = "ak_test_auditor";

    public TestDatabase Database { get; } = new();
    public TestClock Clock { get; } = new();
    public LogCapture Logs { get; } = new();
    public IAlbaHost Host { get; private set; } = null!;
    public IServiceProvider Services => Host.Services;

    /// <summary>Extra settings a fixture needs (gateway latency, say).</summary>
    protected virtual IEnumerable<KeyValuePair<string, string>> Settings => [];

    public virtual async ValueTask InitializeAsync()
    {
        await Database.InitializeAsync();
        Host = await AlbaHost.For<Program>(ConfigureWebHost); // started now: migrations run before the first test
    }

    private void ConfigureWebHost(IWebHostBuilder builder)
    {
        builder.UseEnvironment("Development");
        builder.UseSetting("ConnectionStrings:Ledger", Database.ConnectionString);
        builder.UseSetting("Ledger:Sweep:Interval", "01:00:00"); // tests run the sweep themselves
        builder.UseSetting("Ledger:Gateway:Retry:BaseDelay", "00:00:00.001");
        foreach (var (key, value) in Settings) builder.UseSetting(key, value);
        builder.ConfigureTestServices(services => services.AddSingleton<TimeProvider>(Clock));
        builder.ConfigureLogging(logging => logging.AddProvider(Logs));
    }

    /// <summary>A scenario (Alba) sent with <paramref name="apiKey"/>'s bearer token.</summary>
    public Task<IScenarioResult> Scenario(string? apiKey, Action<Scenario> configure) => Host.Scenario(s =>
    {
        if (apiKey is not null) s.WithRequestHeader("Authorization", $"Bearer {apiKey}");
        configure(s);
    });

    public HttpClient Client(string? apiKey)
    {
        var client = Host.Server.CreateClient();
        if (apiKey is not null) client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", apiKey);
        return client;
    }

    public virtual async ValueTask DisposeAsync()
    {
        if (Host is not null) await Host.DisposeAsync();
        await Database.DisposeAsync();
        GC.SuppressFinalize(this);
    }
}

/// <summary>Real time plus an offset the test controls.</summary>
public sealed class TestClock : TimeProvider
{
    private long _offsetTicks;
    public override DateTimeOffset GetUtcNow() => base.GetUtcNow().AddTicks(Interlocked.Read(ref _offsetTicks));
    public void Advance(TimeSpan by) => Interlocked.Add(ref _offsetTicks, by.Ticks);
}

/// <summary>Every log entry the host writes: message, structured values, scopes and exceptions.</summary>
public sealed class LogCapture : ILoggerProvider, ISupportExternalScope
{
    private IExternalScopeProvider _scopes = new LoggerExternalScopeProvider();
    public ConcurrentQueue<string> Lines { get; } = new();

    public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);
    public void SetScopeProvider(IExternalScopeProvider scopeProvider) => _scopes = scopeProvider;
    public void Dispose() { }

    public string All => string.Join('\n', Lines);

    private sealed class Logger(LogCapture capture, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => capture._scopes.Push(state);
        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel level, EventId id, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            var sb = new StringBuilder($"{level} {category}: {formatter(state, exception)}");
            if (state is IEnumerable<KeyValuePair<string, object?>> values)
                foreach (var (k, v) in values) sb.Append($" {k}={v}");
            capture._scopes.ForEachScope((scope, b) => b.Append($" scope={scope}"), sb);
            if (exception is not null) sb.Append(' ').Append(exception);
            capture.Lines.Enqueue(sb.ToString());
        }
    }
}

public static class Requests
{
    public const string GoodCard = "4242424242424242";

    public static JsonObject Charge(long amount = 1250, string currency = "USD", string card = GoodCard, string orderId = "order-1001") => new()
    {
        ["amount"] = amount,
        ["currency"] = currency,
        ["orderId"] = orderId,
        ["description"] = "2 coffees",
        ["metadata"] = new JsonObject { ["table"] = "7" },
        ["card"] = new JsonObject { ["number"] = card, ["expMonth"] = 12, ["expYear"] = 2030, ["cvc"] = "123" },
    };

    public static Task<HttpResponseMessage> PostJson(this HttpClient client, string path, JsonNode body, string? idempotencyKey = null) =>
        client.PostRaw(path, body.ToJsonString(), idempotencyKey);

    public static Task<HttpResponseMessage> PostRaw(this HttpClient client, string path, string body, string? idempotencyKey = null)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = new StringContent(body, Encoding.UTF8, "application/json") };
        if (idempotencyKey is not null) request.Headers.TryAddWithoutValidation("Idempotency-Key", idempotencyKey);
        return client.SendAsync(request);
    }

    public static Task<HttpResponseMessage> Charge(this HttpClient client, JsonNode? body = null, string? key = null) =>
        client.PostJson("/v1/payments", body ?? Charge(), key ?? NewKey());

    public static string NewKey() => $"key-{Guid.NewGuid():N}";

    public static async Task<JsonElement> Json(this HttpResponseMessage response) =>
        JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;

    public static string Str(this JsonElement e, string property) => e.GetProperty(property).GetString()!;
}

public static class Waiting
{
    /// <summary>Polls a boolean query until it holds, or fails at the deadline. No fixed sleeps in tests.</summary>
    public static async Task WaitUntil(this TestDatabase db, string sql, params object[] parameters)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (!await db.ScalarAsync<bool>(sql, parameters))
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"Still not true after 30 s: {sql}");
            await Task.Delay(20);
        }
    }

    /// <summary>Polls a condition of the host until it holds, or fails at the deadline naming what was awaited.</summary>
    public static Task Until(Func<bool> condition, TimeSpan within, string what) => Until(() => Task.FromResult(condition()), within, what);

    /// <summary>The same for a condition that asks something (the host over HTTP, a database).</summary>
    public static async Task Until(Func<Task<bool>> condition, TimeSpan within, string what)
    {
        var deadline = DateTime.UtcNow + within;
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"Waited {within.TotalSeconds:0.#} s for {what}.");
            await Task.Delay(20);
        }
    }

    public static Task<int> Sweep(this LedgerApp app) =>
        app.Services.GetRequiredService<Ledger.Host.Payments.ResolvePendingPayments>().SweepOnceAsync(CancellationToken.None);
}
