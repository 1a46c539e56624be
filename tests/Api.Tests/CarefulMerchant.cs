using System.Collections.Concurrent;
using System.Net;
using System.Text.Json.Nodes;

namespace Ledger.Api.Tests;

/// <summary>
/// A merchant client that does what the docs tell merchants to do: one key per intended payment or refund, and
/// on a network error, a 409 in use, a 503, or a balancer's 502 or 504, the same request again with the same key until a
/// final answer.
/// Every answer is recorded, final or not, so a spec can say which answers are allowed: anything else, a 500
/// included, is a final answer the spec sees.
/// </summary>
public sealed class CarefulMerchant(Func<HttpClient> client, TimeSpan giveUpAfter)
{
    public sealed record Answer(string Path, string Key, HttpStatusCode Status, string Body, DateTime At)
    {
        public override string ToString() => $"{(int)Status} {Path} ({Key}) at {At:HH:mm:ss.fff}: {Body}";
    }

    public ConcurrentDictionary<string, string> Charged { get; } = new();    // key -> payment id answered with 201
    public ConcurrentDictionary<string, string> FinalStatus { get; } = new(); // payment id -> status in that answer
    public ConcurrentBag<long> Refunded { get; } = [];                        // amounts of refunds answered 201
    public ConcurrentBag<Answer> Final { get; } = [];                         // every final answer, charges and refunds
    public ConcurrentBag<Answer> Transient { get; } = [];                     // every 409 in use and 503, retried
    public ConcurrentBag<DateTime> NetworkErrors { get; } = [];               // no answer at all (host down), retried
    public ConcurrentBag<string> Unfinished { get; } = [];

    /// <summary>Final answers other than 201: each is a request a careful merchant could not complete.</summary>
    public IEnumerable<Answer> Refused => Final.Where(a => a.Status != HttpStatusCode.Created);

    public async Task RunAsync(int workers, CancellationToken stop)
    {
        await Task.WhenAll(Enumerable.Range(0, workers).Select(async w =>
        {
            var random = new Random(w);
            while (!stop.IsCancellationRequested)
            {
                var key = Requests.NewKey();
                var card = random.Next(6) == 0 ? "4000000000000002" : Requests.GoodCard;
                var answer = await Send("/v1/payments", Requests.Charge(amount: 1000, card: card), key);
                if (answer is not { Status: HttpStatusCode.Created } created) continue;
                var payment = JsonNode.Parse(created.Body)!;
                var id = payment["id"]!.GetValue<string>();
                Charged[key] = id;
                FinalStatus[id] = payment["status"]!.GetValue<string>();
                if (FinalStatus[id] == "succeeded" && random.Next(2) == 0
                    && await Send($"/v1/payments/{id}/refunds", new JsonObject { ["amount"] = 300 }, Requests.NewKey()) is { Status: HttpStatusCode.Created })
                    Refunded.Add(300);
            }
        }));
    }

    private async Task<Answer?> Send(string path, JsonNode body, string key)
    {
        var deadline = DateTime.UtcNow + giveUpAfter;
        while (DateTime.UtcNow < deadline)
        {
            try
            {
                using var response = await client().PostJson(path, body, key);
                var answer = new Answer(path, key, response.StatusCode, await response.Content.ReadAsStringAsync(), DateTime.UtcNow);
                if (response.StatusCode is HttpStatusCode.Conflict && answer.Body.Contains("idempotency_key_in_use")
                    || response.StatusCode is HttpStatusCode.ServiceUnavailable
                    // From a balancer: the host died with the request (502) or did not answer in time (504); its fate is unknown.
                    || response.StatusCode is HttpStatusCode.BadGateway or HttpStatusCode.GatewayTimeout)
                {
                    Transient.Add(answer);
                    await Task.Delay(response.Headers.RetryAfter?.Delta ?? TimeSpan.FromMilliseconds(200));
                    continue;
                }
                Final.Add(answer);
                return answer;
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
            {
                NetworkErrors.Add(DateTime.UtcNow);
                await Task.Delay(200); // the host is down or restarting: the same request again, same key
            }
        }
        Unfinished.Add(key);
        return null;
    }
}
