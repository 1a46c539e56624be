using System.Diagnostics;
using Grpc.Core;
using Grpc.Net.Client;
using Ledger.Grpc.V1;

namespace Ledger.Bench;

/// <summary>
/// The grpc scenario (issue 18): charges over gRPC against the same charges over HTTP, and the Audit service's WatchLog,
/// its throughput over the log so far and its subscribers' lag while charges run.
/// </summary>
public sealed class GrpcScenarios(GrpcChannel channel, IReadOnlyList<string> merchantKeys, string runId)
{
    private readonly Payments.PaymentsClient _payments = new(channel);
    private readonly Audit.AuditClient _audit = new(channel);
    private const string Auditor = "ak_test_auditor";

    public static GrpcChannel Connect(Uri url) => GrpcChannel.ForAddress(url, new GrpcChannelOptions
    {
        // 32 callers on one HTTP/2 connection would queue behind its stream limit: let the handler open more.
        HttpHandler = new SocketsHttpHandler { EnableMultipleHttp2Connections = true, PooledConnectionIdleTimeout = TimeSpan.FromMinutes(5) },
    });

    /// <summary>A new charge with a new key, the HTTP scenario's body field for field.</summary>
    public Func<Worker, CancellationToken, Task<Outcome>> Charge(string tag) => async (w, ct) =>
    {
        var key = $"{runId}-{tag}-{w.Index}-{w.Sequence++}";
        var request = new CreatePaymentRequest
        {
            Amount = 1250, Currency = "USD", OrderId = key, Description = "bench",
            Card = new Card { Number = Scenarios.SucceedingCard, ExpMonth = 12, ExpYear = DateTime.UtcNow.Year + 3, Cvc = "123" },
        };
        try
        {
            var payment = await _payments.CreatePaymentAsync(request,
                new Metadata { { "authorization", $"Bearer {merchantKeys[0]}" }, { "idempotency-key", key } }, cancellationToken: ct);
            return payment.Status == PaymentStatus.Succeeded ? Outcome.Ok("grpc charge") : Outcome.Error("grpc charge", payment.Status.ToString());
        }
        catch (RpcException e) when (!ct.IsCancellationRequested)
        {
            return Outcome.Error("grpc charge", e.StatusCode.ToString());
        }
    };

    /// <summary>One subscriber from the start of the log until it has everything up to <paramref name="head"/>: events per second.</summary>
    public async Task<(long Events, TimeSpan Took)> CatchUpAsync(long head, CancellationToken ct)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(TimeSpan.FromMinutes(5));
        using var call = _audit.WatchLog(new WatchLogRequest { After = 0 }, new Metadata { { "authorization", $"Bearer {Auditor}" } },
            cancellationToken: timeout.Token);
        var clock = Stopwatch.StartNew();
        long events = 0;
        while (await call.ResponseStream.MoveNext(timeout.Token))
        {
            events++;
            if (call.ResponseStream.Current.Sequence >= head) break;
        }
        return (events, clock.Elapsed);
    }

    /// <summary>
    /// Subscribers watching the live log: for each event, the time from its occurredAt (set when the charge decided it,
    /// just before its commit) to its arrival, on this machine's one clock.
    /// </summary>
    public (Task<List<double>[]> Lags, CancellationTokenSource Stop) Watch(int subscribers, long after)
    {
        var stop = new CancellationTokenSource();
        var tasks = Enumerable.Range(0, subscribers).Select(_ => Task.Run(async () =>
        {
            var lags = new List<double>();
            try
            {
                using var call = _audit.WatchLog(new WatchLogRequest { After = after }, new Metadata { { "authorization", $"Bearer {Auditor}" } },
                    cancellationToken: stop.Token);
                while (await call.ResponseStream.MoveNext(stop.Token))
                {
                    var occurred = DateTimeOffset.Parse(call.ResponseStream.Current.OccurredAt, System.Globalization.CultureInfo.InvariantCulture);
                    lags.Add((DateTimeOffset.UtcNow - occurred).TotalMilliseconds);
                }
            }
            catch (RpcException e) when (e.StatusCode == StatusCode.Cancelled) { }
            catch (OperationCanceledException) { }
            return lags;
        })).ToArray();
        return (Task.WhenAll(tasks), stop);
    }

    /// <summary>The log's last sequence now, as WatchLog would reach it: the HTTP log's cursor.</summary>
    public static async Task<long> HeadAsync(HttpClient http, Uri url, CancellationToken ct)
    {
        long after = 0;
        while (true)
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(url, $"/v1/events?after={after}&limit=1000"));
            request.Headers.Authorization = new("Bearer", Auditor);
            using var response = await http.SendAsync(request, ct);
            using var json = System.Text.Json.JsonDocument.Parse(await response.Content.ReadAsStringAsync(ct));
            after = json.RootElement.GetProperty("nextAfter").GetInt64();
            if (!json.RootElement.GetProperty("hasMore").GetBoolean()) return after;
        }
    }
}
