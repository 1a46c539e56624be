using System.Collections.Concurrent;
using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using RabbitMQ.Client;
using Shouldly;
using Xunit;

namespace Ledger.Api.Tests;

/// <summary>
/// A RabbitMQ broker of the test's own (Debian's rabbitmq-server through scripts/rabbitmq.sh): its own node name, AMQP
/// port, data directory and port mapper on loopback; stopped and removed at the end.
/// </summary>
public sealed class RabbitMqBroker : IAsyncDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), $"ledger-rabbitmq-{Guid.NewGuid():N}"[..32]);
    public int Port { get; } = HostProcess.FreePort();
    public string Uri => $"amqp://guest:guest@127.0.0.1:{Port}";

    public static bool Installed => File.Exists("/usr/lib/rabbitmq/bin/rabbitmq-server");

    public async Task StartAsync()
    {
        var run = await ChildProcess.RunAsync(Script, ["start", _dir, Port.ToString(System.Globalization.CultureInfo.InvariantCulture)],
            timeout: TimeSpan.FromMinutes(2));
        if (run.Exit != 0) throw new InvalidOperationException($"RabbitMQ did not start: {run.Output}");
    }

    public async Task StopAsync()
    {
        var run = await ChildProcess.RunAsync(Script, ["stop", _dir], timeout: TimeSpan.FromMinutes(1));
        if (run.Exit != 0) throw new InvalidOperationException($"RabbitMQ did not stop: {run.Output}");
    }

    private static string Script => Path.Combine(ChildProcess.RepositoryRoot(), "scripts", "rabbitmq.sh");

    public async ValueTask DisposeAsync()
    {
        try { await StopAsync(); } catch (InvalidOperationException) { /* already stopped */ }
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { /* best effort: it is under /tmp */ }
    }
}

/// <summary>A consumer's durable queue bound to ledger.events: what an internal service would read. Reconnects after a broker restart.</summary>
public sealed class BoundQueue(string uri, IConnection connection, IChannel channel, string name) : IAsyncDisposable
{
    public ConcurrentQueue<(string RoutingKey, JsonElement Body)> Received { get; } = new();

    public static async Task<BoundQueue> BindAsync(string uri, string bindingKey)
    {
        var connection = await new ConnectionFactory { Uri = new Uri(uri) }.CreateConnectionAsync();
        var channel = await connection.CreateChannelAsync();
        var name = $"test-{Guid.NewGuid():N}";
        await channel.QueueDeclareAsync(name, durable: true, exclusive: false, autoDelete: false);
        await channel.QueueBindAsync(name, "ledger.events", bindingKey);
        return new BoundQueue(uri, connection, channel, name);
    }

    /// <summary>Takes messages off the queue until <paramref name="done"/> holds of all taken, or the deadline.</summary>
    public async Task DrainUntil(Func<IReadOnlyCollection<(string RoutingKey, JsonElement Body)>, bool> done, TimeSpan within, string what)
    {
        var deadline = DateTime.UtcNow + within;
        while (!done(Received.ToArray()))
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"The queue did not get {what} in time; it got {Received.Count} messages.");
            BasicGetResult? message;
            try
            {
                message = await channel.BasicGetAsync(name, autoAck: true);
            }
            catch (Exception e) when (e is RabbitMQ.Client.Exceptions.AlreadyClosedException or RabbitMQ.Client.Exceptions.BrokerUnreachableException
                                          or RabbitMQ.Client.Exceptions.OperationInterruptedException or IOException)
            {
                await Task.Delay(200); // the broker restarts: the queue and its binding are durable, so read on once it is back
                await ReconnectAsync();
                continue;
            }
            if (message is null)
            {
                await Task.Delay(20);
                continue;
            }
            Received.Enqueue((message.RoutingKey, JsonDocument.Parse(Encoding.UTF8.GetString(message.Body.Span)).RootElement.Clone()));
        }
    }

    private async Task ReconnectAsync()
    {
        try
        {
            await channel.DisposeAsync();
            await connection.DisposeAsync();
        }
        catch (Exception e) when (e is RabbitMQ.Client.Exceptions.AlreadyClosedException or IOException) { /* it was the broker that closed them */ }
        try
        {
            connection = await new ConnectionFactory { Uri = new Uri(uri) }.CreateConnectionAsync();
            channel = await connection.CreateChannelAsync();
        }
        catch (RabbitMQ.Client.Exceptions.BrokerUnreachableException) { /* not back yet: the next read tries again */ }
    }

    public async ValueTask DisposeAsync()
    {
        await channel.DisposeAsync();
        await connection.DisposeAsync();
    }
}

public sealed class BrokerApp(string uri) : LedgerApp
{
    protected override IEnumerable<KeyValuePair<string, string>> Settings => [new("Ledger:RabbitMq:Uri", uri)];
}

/// <summary>
/// Internal consumers (issue 14): the notifications also go to the RabbitMQ topic exchange ledger.events through
/// Wolverine's RabbitMQ transport and durable outbox. A real broker; the ledger in-process.
/// </summary>
public sealed class BrokerSpecs : IAsyncLifetime
{
    private readonly RabbitMqBroker _broker = new();
    private BrokerApp _app = null!;

    public async ValueTask InitializeAsync()
    {
        if (!RabbitMqBroker.Installed)
            Assert.Skip("rabbitmq-server is not installed and `make test` could not install it (scripts/rabbitmq.sh ensure)");
        await _broker.StartAsync();
        _app = new BrokerApp(_broker.Uri);
        await _app.InitializeAsync(); // declares the exchange (AutoProvision)
    }

    [Fact]
    public async Task Each_event_arrives_on_a_bound_queue_with_its_type_as_the_routing_key_and_webhooks_still_go_out()
    {
        await using var receiver = new WebhookReceiver();
        await receiver.StartAsync();
        await _app.CreateEndpoint(LedgerApp.Acme, receiver.Url, "payment.succeeded", "payment.failed", "payment.refunded");
        await using var all = await BoundQueue.BindAsync(_broker.Uri, "payment.#");
        await using var refunds = await BoundQueue.BindAsync(_broker.Uri, "payment.refunded");
        var client = _app.Client(LedgerApp.Acme);
        var charged = (await (await client.Charge()).Json()).Str("id");
        var declined = (await (await client.Charge(Requests.Charge(card: "4000000000000002"))).Json()).Str("id");
        (await client.PostJson($"/v1/payments/{charged}/refunds", new JsonObject { ["amount"] = 200 }, Requests.NewKey())).StatusCode
            .ShouldBe(HttpStatusCode.Created);

        await all.DrainUntil(m => m.Count >= 3, TimeSpan.FromSeconds(30), "three events");
        var byId = all.Received.ToDictionary(m => m.Body.GetProperty("id").GetString()!);
        byId.Keys.Order().ShouldBe(new[] { $"evt_{charged[4..]}_2", $"evt_{charged[4..]}_3", $"evt_{declined[4..]}_2" }.Order());
        var succeeded = byId[$"evt_{charged[4..]}_2"];
        succeeded.RoutingKey.ShouldBe("payment.succeeded");
        (succeeded.Body.GetProperty("type").GetString(), succeeded.Body.GetProperty("merchantId").GetString(), succeeded.Body.GetProperty("paymentId").GetString())
            .ShouldBe(("payment.succeeded", "acme", charged));
        succeeded.Body.GetProperty("data").GetProperty("payment").GetProperty("amount").GetInt64().ShouldBe(1250);
        byId[$"evt_{declined[4..]}_2"].RoutingKey.ShouldBe("payment.failed");
        byId[$"evt_{charged[4..]}_3"].Body.GetProperty("data").GetProperty("refund").GetProperty("amount").GetInt64().ShouldBe(200);

        await refunds.DrainUntil(m => m.Count >= 1, TimeSpan.FromSeconds(30), "the refund");
        // The same events, from the same outbox, reach the merchant's webhook endpoint.
        await receiver.WaitUntil(r => r.Select(x => x.EventId).Distinct().Count() == 3, what: "the three events as webhooks");
        receiver.Received.Select(x => x.EventId).ToHashSet().SetEquals(byId.Keys).ShouldBeTrue();
        refunds.Received.ShouldAllBe(m => m.RoutingKey == "payment.refunded");
        // Nothing about card numbers on the wire.
        var cardStart = Requests.GoodCard[..12];
        all.Received.ShouldAllBe(m => !m.Body.GetRawText().Contains(cardStart));
    }

    [Fact]
    public async Task A_broker_restarted_under_load_loses_no_event_and_every_charge_still_succeeds()
    {
        await using var queue = await BoundQueue.BindAsync(_broker.Uri, "payment.#");
        var client = _app.Client(LedgerApp.Acme);
        var charges = new List<string>();
        for (var i = 0; i < 60; i++)
        {
            if (i == 20) await _broker.StopAsync();   // down for the middle third: charges go on, their events wait in the outbox
            if (i == 40) await _broker.StartAsync();
            var answer = await client.Charge();
            answer.StatusCode.ShouldBe(HttpStatusCode.Created);
            charges.Add((await answer.Json()).Str("id"));
        }
        var expected = charges.Select(id => $"evt_{id[4..]}_2").ToHashSet();
        await queue.DrainUntil(m => expected.IsSubsetOf(m.Select(x => x.Body.GetProperty("id").GetString()!)), TimeSpan.FromSeconds(90),
            "all 60 charges");
        queue.Received.Select(m => m.Body.GetProperty("id").GetString()!).ToHashSet().SetEquals(expected).ShouldBeTrue();
        TestContext.Current.TestOutputHelper?.WriteLine($"broker restart: 60 events expected, {queue.Received.Count} received (repeats are de-duplicated by id)");
    }

    public async ValueTask DisposeAsync()
    {
        if (_app is not null) await _app.DisposeAsync();
        await _broker.DisposeAsync();
    }
}
