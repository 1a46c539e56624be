using System.Collections.Concurrent;
using System.Net;
using System.Text.Json.Nodes;

namespace Ledger.Api.Tests;

/// <summary>
/// A merchant client that does what the docs tell merchants to do: one key per intended payment or refund, and
/// on a network error, a 409 in use or a 503, the same request again with the same key until a final answer.
/// </summary>
public sealed class CarefulMerchant(Func<HttpClient> client, TimeSpan giveUpAfter)
{
    public ConcurrentDictionary<string, string> Charged { get; } = new();    // key -> payment id answered with 201
    public ConcurrentDictionary<string, string> FinalStatus { get; } = new(); // payment id -> status in that answer
    public ConcurrentBag<long> Refunded { get; } = [];
    public ConcurrentBag<HttpStatusCode> Transient { get; } = [];
    public ConcurrentBag<string> Unfinished { get; } = [];

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

    private async Task<(HttpStatusCode Status, string Body)?> Send(string path, JsonNode body, string key)
    {
        var deadline = DateTime.UtcNow + giveUpAfter;
        while (DateTime.UtcNow < deadline)
        {
            try
            {
                using var response = await client().PostJson(path, body, key);
                var text = await response.Content.ReadAsStringAsync();
                if (response.StatusCode is HttpStatusCode.Conflict && text.Contains("idempotency_key_in_use")
                    || response.StatusCode is HttpStatusCode.ServiceUnavailable or HttpStatusCode.InternalServerError)
                {
                    Transient.Add(response.StatusCode);
                    await Task.Delay(response.Headers.RetryAfter?.Delta ?? TimeSpan.FromMilliseconds(200));
                    continue;
                }
                return (response.StatusCode, text);
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
            {
                await Task.Delay(200); // the host is down or restarting: the same request again, same key
            }
        }
        Unfinished.Add(key);
        return null;
    }
}
