using System.Net;
using System.Text.Json.Nodes;
using Grpc.Core;
using Grpc.Net.Client;
using Ledger.Domain.Payments;
using Ledger.EventStore;
using Ledger.Grpc.V1;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;
using PaymentStatus = Ledger.Grpc.V1.PaymentStatus;
using Shouldly;
using Xunit;

namespace Ledger.Api.Tests;

/// <summary>
/// ledger.v1.Audit: a payment's events and history, and WatchLog, the global log as a live stream that never passes a
/// transaction still in flight and resumes from any sequence. In-process (Alba's test server carries the gRPC calls),
/// so a spec can hold a transaction open on the ledger's own store while the log moves on.
/// </summary>
public sealed class GrpcAuditSpecs(LedgerApp app) : IClassFixture<LedgerApp>
{
    private GrpcChannel Channel() => GrpcChannel.ForAddress(app.Host.Server.BaseAddress,
        new GrpcChannelOptions { HttpHandler = app.Host.Server.CreateHandler() });

    private static Metadata As(string apiKey) => new() { { "authorization", $"Bearer {apiKey}" } };

    private async Task<string> Charge(long amount = 1000)
    {
        var answer = await app.Client(LedgerApp.Acme).Charge(Requests.Charge(amount: amount, orderId: $"audit-{Guid.NewGuid():N}"[..20]));
        answer.StatusCode.ShouldBe(HttpStatusCode.Created);
        return (await answer.Json()).Str("id");
    }

    /// <summary>Reads the watch stream into a list in the background until cancelled.</summary>
    private static (List<Event> Received, Task Reading, CancellationTokenSource Stop) Watch(Audit.AuditClient client, long after)
    {
        var stop = new CancellationTokenSource();
        var received = new List<Event>();
        var call = client.WatchLog(new WatchLogRequest { After = after }, As(LedgerApp.Auditor), cancellationToken: stop.Token);
        var reading = Task.Run(async () =>
        {
            try
            {
                while (await call.ResponseStream.MoveNext(stop.Token)) lock (received) received.Add(call.ResponseStream.Current);
            }
            catch (RpcException e) when (e.StatusCode == StatusCode.Cancelled) { }
            catch (OperationCanceledException) { }
            finally { call.Dispose(); }
        });
        return (received, reading, stop);
    }

    private static async Task Until(Func<bool> condition, string what)
    {
        var deadline = DateTime.UtcNow.AddSeconds(15);
        while (!condition())
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"Not seen in time: {what}");
            await Task.Delay(20);
        }
    }

    private static List<Event> Snapshot(List<Event> received) { lock (received) return [.. received]; }

    [Fact]
    public async Task A_payments_events_carry_their_hash_chain_and_its_history_can_be_asked_as_of_any_version()
    {
        var id = await Charge(3000);
        await app.Client(LedgerApp.Acme).PostJson($"/v1/payments/{id}/refunds", new JsonObject { ["amount"] = 1000 }, Requests.NewKey());
        using var channel = Channel();
        var client = new Audit.AuditClient(channel);

        var stream = await client.GetStreamEventsAsync(new GetStreamEventsRequest { PaymentId = id }, As(LedgerApp.Acme));
        var atTwo = await client.GetHistoryAsync(new GetHistoryRequest { PaymentId = id, AtVersion = 2 }, As(LedgerApp.Acme));
        var now = await client.GetHistoryAsync(new GetHistoryRequest { PaymentId = id }, As(LedgerApp.Auditor));

        stream.Events.Select(e => e.Type).ShouldBe(["payment_requested", "payment_charged", "payment_refunded"]);
        stream.Events[0].PreviousHash.ShouldBeEmpty();
        stream.Events[1].PreviousHash.ShouldBe(stream.Events[0].Hash);
        var http = await (await app.Client(LedgerApp.Acme).GetAsync($"/v1/payments/{id}/events")).Json();
        stream.Events.Select(e => e.Hash).ShouldBe(http.GetProperty("events").EnumerateArray().Select(e => e.Str("hash")));
        stream.Events[2].DataJson.ShouldBe(http.GetProperty("events")[2].GetProperty("data").GetRawText());
        atTwo.Status.ShouldBe(PaymentStatus.Succeeded);
        atTwo.AmountRefunded.ShouldBe(0);
        now.Status.ShouldBe(PaymentStatus.PartiallyRefunded);
        (await Should.ThrowAsync<RpcException>(client.GetStreamEventsAsync(new GetStreamEventsRequest { PaymentId = id }, As(LedgerApp.Globex)).ResponseAsync))
            .StatusCode.ShouldBe(StatusCode.NotFound);
        (await Should.ThrowAsync<RpcException>(client.GetHistoryAsync(new GetHistoryRequest { PaymentId = id, AtVersion = 0 }, As(LedgerApp.Acme)).ResponseAsync))
            .StatusCode.ShouldBe(StatusCode.InvalidArgument);
    }

    [Fact]
    public async Task WatchLog_does_not_pass_a_transaction_held_open_and_sends_it_and_what_followed_once_it_commits()
    {
        using var channel = Channel();
        var client = new Audit.AuditClient(channel);
        var start = (await (await app.Client(LedgerApp.Auditor).GetAsync("/v1/events?limit=1000")).Json()).GetProperty("nextAfter").GetInt64();
        var store = app.Services.GetRequiredService<EventLog<PaymentEvent>>();
        var (received, reading, stop) = Watch(client, await LastSequenceAsync(start));

        // An append whose transaction takes its place in the log now and commits later.
        var held = $"pay_held_{Guid.NewGuid():N}";
        await using var source = app.Database.CreateDataSource();
        await using var connection = await source.OpenConnectionAsync();
        await using var transaction = await connection.BeginTransactionAsync();
        var requested = PaymentDecider.Decide(new PaymentCommand.RequestPayment(held, "acme", "held-1", 500, "USD",
            new CardSnapshot("visa", "4242", 12, 2030, "fp_held"), null, new Dictionary<string, string>(), DateTimeOffset.UtcNow), null);
        await store.AppendAsync(held, 0, requested, new EventMetadata("held", null, null, "merchant:acme"), transaction: transaction);
        var after = new[] { await Charge(), await Charge() };
        await Task.Delay(700); // seven looks of the watcher at the log

        Snapshot(received).ShouldBeEmpty(); // the later commits are not sent past the held one

        await transaction.CommitAsync();
        await Until(() => Snapshot(received).Count >= 5, "the held event and the two charges' four");
        stop.Cancel();
        await reading;
        var events = Snapshot(received);
        events[0].StreamId.ShouldBe(held);
        events.Select(e => e.StreamId).Skip(1).ShouldBe([after[0], after[0], after[1], after[1]]);
        events.Select(e => e.Sequence).ShouldBeUnique();
    }

    [Fact]
    public async Task A_watcher_that_disconnects_and_resumes_from_its_last_sequence_gets_every_event_exactly_once()
    {
        using var channel = Channel();
        var client = new Audit.AuditClient(channel);
        var start = await LastSequenceAsync(0);
        var first = Watch(client, start);
        var ids = new List<string>();
        for (var i = 0; i < 3; i++) ids.Add(await Charge());
        await Until(() => Snapshot(first.Received).Count >= 6, "the first three charges");
        first.Stop.Cancel();
        await first.Reading;
        var seen = Snapshot(first.Received);

        for (var i = 0; i < 3; i++) ids.Add(await Charge()); // while nobody watches
        var second = Watch(client, seen[^1].Sequence);
        for (var i = 0; i < 2; i++) ids.Add(await Charge());
        await Until(() => Snapshot(second.Received).Count >= 10, "the five later charges");
        await Task.Delay(300);
        second.Stop.Cancel();
        await second.Reading;

        var all = seen.Concat(Snapshot(second.Received)).ToList();
        all.Select(e => e.Sequence).ShouldBeUnique();
        all.Select(e => e.StreamId).Distinct().ShouldBe(ids);
        all.Count.ShouldBe(16);
        all.GroupBy(e => e.StreamId).ShouldAllBe(g => g.Select(e => e.Version).SequenceEqual(new long[] { 1, 2 }));
    }

    [Fact]
    public async Task WatchLog_is_for_the_auditor()
    {
        using var channel = Channel();
        var call = new Audit.AuditClient(channel).WatchLog(new WatchLogRequest(), As(LedgerApp.Acme));

        var refused = await Should.ThrowAsync<RpcException>(call.ResponseStream.MoveNext(CancellationToken.None));

        refused.StatusCode.ShouldBe(StatusCode.PermissionDenied);
    }

    /// <summary>The last sequence of the log so far, read through the HTTP API from <paramref name="after"/>.</summary>
    private async Task<long> LastSequenceAsync(long after)
    {
        while (true)
        {
            var page = await (await app.Client(LedgerApp.Auditor).GetAsync($"/v1/events?after={after}&limit=1000")).Json();
            after = page.GetProperty("nextAfter").GetInt64();
            if (!page.GetProperty("hasMore").GetBoolean()) return after;
        }
    }
}
