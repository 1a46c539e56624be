using System.Net;
using System.Net.Http.Headers;
using System.Text;

namespace Ledger.Bench;

public readonly record struct Answer(int Status, string Body, bool Replayed)
{
    /// <summary>"409 payment_not_refundable": the status and the problem's stable code, for error tallies.</summary>
    public string Describe() => $"{Status} {Scenarios.Field(Body, "code") ?? Scenarios.Field(Body, "status") ?? ""}".TrimEnd();
}

/// <summary>The ledger's HTTP API, as much of it as the scenarios use.</summary>
public sealed class Api(HttpClient http)
{
    public static HttpClient CreateClient(Uri baseAddress) => new(new SocketsHttpHandler
    {
        MaxConnectionsPerServer = 4096,
        PooledConnectionLifetime = Timeout.InfiniteTimeSpan,
        PooledConnectionIdleTimeout = TimeSpan.FromMinutes(5),
        UseCookies = false,
        UseProxy = false,
        AutomaticDecompression = DecompressionMethods.None,
        ConnectTimeout = TimeSpan.FromSeconds(10),
    })
    {
        BaseAddress = baseAddress,
        Timeout = TimeSpan.FromSeconds(30),
        DefaultRequestVersion = HttpVersion.Version11,
    };

    public async Task<Answer> PostAsync(string path, string apiKey, string idempotencyKey, string json, CancellationToken ct)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = new StringContent(json, Encoding.UTF8, "application/json") };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", apiKey);
        request.Headers.TryAddWithoutValidation("Idempotency-Key", idempotencyKey);
        return await SendAsync(request, ct);
    }

    public async Task<Answer> GetAsync(string path, string apiKey, CancellationToken ct)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", apiKey);
        return await SendAsync(request, ct);
    }

    public async Task<Answer> DeleteAsync(string path, string apiKey, CancellationToken ct)
    {
        using var request = new HttpRequestMessage(HttpMethod.Delete, path);
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", apiKey);
        return await SendAsync(request, ct);
    }

    private async Task<Answer> SendAsync(HttpRequestMessage request, CancellationToken ct)
    {
        using var response = await http.SendAsync(request, HttpCompletionOption.ResponseContentRead, ct);
        var body = await response.Content.ReadAsStringAsync(ct);
        var replayed = response.Headers.TryGetValues("Idempotent-Replayed", out var values) && values.Contains("true");
        return new Answer((int)response.StatusCode, body, replayed);
    }
}

/// <summary>A payment a charge scenario created: enough to replay its request, refund it or read it.</summary>
public sealed record ChargeRecord(int Merchant, string IdempotencyKey, string Body, string PaymentId);

/// <summary>Succeeded payments made so far, for the replay, refund and read scenarios to pick from.</summary>
public sealed class PaymentPool(int capacity = 200_000)
{
    private readonly List<ChargeRecord> _records = [];
    private readonly Lock _lock = new();

    public int Count { get { lock (_lock) return _records.Count; } }

    public void Add(ChargeRecord record)
    {
        lock (_lock)
        {
            if (_records.Count < capacity) _records.Add(record);
            else _records[Random.Shared.Next(capacity)] = record;
        }
    }

    public ChargeRecord At(long index) { lock (_lock) return _records[(int)(index % _records.Count)]; }
    public ChargeRecord Any(Random random) { lock (_lock) return _records[random.Next(_records.Count)]; }
    public IReadOnlyList<ChargeRecord> Snapshot() { lock (_lock) return [.. _records]; }
}

/// <summary>
/// What each scenario sends and what it counts as success. Every request carries a fresh Idempotency-Key unless
/// the scenario is the replay, which resends keys (with the same bodies) that earlier charges used.
/// </summary>
public sealed class Scenarios(Api api, IReadOnlyList<string> merchantKeys, PaymentPool pool, string runId)
{
    public const string SucceedingCard = "4242424242424242";
    public const string DecliningCard = "4000000000000002";
    private static readonly int ExpYear = DateTime.UtcNow.Year + 3;

    public static string ChargeBody(string orderId, string card) =>
        "{\"amount\":1250,\"currency\":\"USD\",\"orderId\":\"" + orderId + "\",\"description\":\"bench\",\"card\":{\"number\":\"" + card
        + "\",\"expMonth\":12,\"expYear\":" + ExpYear.ToString(System.Globalization.CultureInfo.InvariantCulture) + ",\"cvc\":\"123\"}}";

    /// <summary>A new charge with a new key; <paramref name="merchants"/> = 1 is acme alone, more spreads requests over merchants.</summary>
    public Func<Worker, CancellationToken, Task<Outcome>> Charge(string tag, int merchants) => async (w, ct) =>
    {
        var seq = w.Sequence++;
        var merchant = merchants <= 1 ? 0 : (int)((w.Index + seq) % merchants);
        return await ChargeOnce(w, tag, merchant, seq, ct);
    };

    private async Task<Outcome> ChargeOnce(Worker w, string tag, int merchant, long seq, CancellationToken ct)
    {
        var key = $"{runId}-{tag}-{w.Index}-{seq}";
        var body = ChargeBody(key, SucceedingCard);
        var answer = await api.PostAsync("/v1/payments", merchantKeys[merchant], key, body, ct);
        if (answer.Status != 201 || Field(answer.Body, "status") != "succeeded" || answer.Replayed)
            return Outcome.Error("charge", answer.Replayed ? "201 replayed a new key" : answer.Describe());
        pool.Add(new ChargeRecord(merchant, key, body, Field(answer.Body, "id")!));
        return Outcome.Ok("charge");
    }

    /// <summary>Keys earlier charges used, with the same bodies: 201, the same payment, Idempotent-Replayed: true.</summary>
    public Func<Worker, CancellationToken, Task<Outcome>> Replay(int clients) => async (w, ct) =>
    {
        var record = pool.At(w.Index + w.Sequence++ * clients);
        var answer = await api.PostAsync("/v1/payments", merchantKeys[record.Merchant], record.IdempotencyKey, record.Body, ct);
        if (answer.Status == 201 && answer.Replayed && Field(answer.Body, "id") == record.PaymentId) return Outcome.Ok("replay");
        return Outcome.Error("replay", answer.Status == 201 ? "201 not a replay of the first answer" : answer.Describe());
    };

    /// <summary>70% charge, 10% decline, 10% refund of 1 minor unit of an earlier payment, 10% read of one.</summary>
    public Func<Worker, CancellationToken, Task<Outcome>> Mixed(int merchants) => async (w, ct) =>
    {
        var seq = w.Sequence++;
        var merchant = merchants <= 1 ? 0 : (int)((w.Index + seq) % merchants);
        var dice = w.Random.Next(100);
        if (dice < 70) return await ChargeOnce(w, "mix", merchant, seq, ct);
        if (dice < 80)
        {
            var key = $"{runId}-mixd-{w.Index}-{seq}";
            var answer = await api.PostAsync("/v1/payments", merchantKeys[merchant], key, ChargeBody(key, DecliningCard), ct);
            return answer.Status == 201 && Field(answer.Body, "status") == "failed" && Field(answer.Body, "failureCode") == "card_declined"
                ? Outcome.Ok("decline")
                : Outcome.Error("decline", answer.Describe());
        }
        var target = pool.Any(w.Random);
        if (dice < 90)
        {
            var key = $"{runId}-mixr-{w.Index}-{seq}";
            var answer = await api.PostAsync($"/v1/payments/{target.PaymentId}/refunds", merchantKeys[target.Merchant], key,
                """{"amount":1,"reason":"requested_by_customer"}""", ct);
            return answer.Status switch
            {
                201 => Outcome.Ok("refund"),
                // The contract's refusals: not refundable any more, more than remains, a lost version race.
                409 or 422 => Outcome.Expected("refund", answer.Describe()),
                _ => Outcome.Error("refund", answer.Describe()),
            };
        }
        return await GetOne(target, "get", ct);
    };

    public Func<Worker, CancellationToken, Task<Outcome>> ReadOne() => (w, ct) => GetOne(pool.Any(w.Random), "get", ct);

    public Func<Worker, CancellationToken, Task<Outcome>> ReadList(int merchants) => async (w, ct) =>
    {
        var merchant = merchants <= 1 ? 0 : (int)((w.Index + w.Sequence++) % merchants);
        var answer = await api.GetAsync("/v1/payments?limit=10", merchantKeys[merchant], ct);
        return answer.Status == 200 && answer.Body.StartsWith("{\"data\":[", StringComparison.Ordinal)
            ? Outcome.Ok("list")
            : Outcome.Error("list", answer.Describe());
    };

    private async Task<Outcome> GetOne(ChargeRecord target, string op, CancellationToken ct)
    {
        var answer = await api.GetAsync($"/v1/payments/{target.PaymentId}", merchantKeys[target.Merchant], ct);
        return answer.Status == 200 && Field(answer.Body, "id") == target.PaymentId ? Outcome.Ok(op) : Outcome.Error(op, answer.Describe());
    }

    /// <summary>The first string value of <c>"name":"..."</c> in a JSON text: cheap enough not to load the driver.</summary>
    public static string? Field(string json, string name)
    {
        var marker = $"\"{name}\":\"";
        var start = json.IndexOf(marker, StringComparison.Ordinal);
        if (start < 0) return null;
        start += marker.Length;
        var end = json.IndexOf('"', start);
        return end < 0 ? null : json[start..end];
    }
}
