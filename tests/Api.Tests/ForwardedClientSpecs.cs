using System.Net;
using Ledger.Testing;
using Shouldly;
using Xunit;

namespace Ledger.Api.Tests;

/// <summary>
/// Behind a balancer: requests without a valid key are rate-limited per client address, which a host takes from the
/// X-Forwarded-For of a proxy it trusts (Ledger:Http:TrustedProxies) and from nobody else's. Real host processes on
/// loopback, where this spec plays the balancer (127.0.0.1), with 1 request a second and bursts of 3 per address.
/// </summary>
public sealed class ForwardedClientSpecs : IAsyncLifetime
{
    // Each host has its own database: two hosts on one database are a cluster of two, and each would grant half the budget.
    private readonly TestDatabase _trustingDb = new(), _plainDb = new();
    private HostProcess _trusting = null!, _plain = null!;

    public async ValueTask InitializeAsync()
    {
        await _trustingDb.InitializeAsync();
        await _plainDb.InitializeAsync();
        (string, string)[] tight = [("Ledger:RateLimit:PermitsPerSecond", "1"), ("Ledger:RateLimit:Burst", "3")];
        _trusting = new HostProcess(_trustingDb.ConnectionString, HostProcess.FastRecovery([.. tight, ("Ledger:Http:TrustedProxies:0", "127.0.0.1")]));
        _plain = new HostProcess(_plainDb.ConnectionString, HostProcess.FastRecovery(tight));
        await _trusting.StartAsync();
        await _plain.StartAsync();
    }

    [Fact]
    public async Task Each_forwarded_client_has_its_own_bucket_behind_a_trusted_proxy_and_none_can_pick_one_elsewhere()
    {
        // The buckets refill by one a second, so a run of requests may see one token more than the burst.
        // Trusted: one client empties its bucket; another, behind the same proxy, is not affected.
        ShouldDrain(await Statuses(_trusting, "203.0.113.7", 6));
        (await Statuses(_trusting, "203.0.113.8", 3)).ShouldBe([401, 401, 401]);
        // Not trusted: X-Forwarded-For is ignored, every request is the loopback address's: one bucket for all.
        ShouldDrain(await Statuses(_plain, "203.0.113.7", 6));
        (await Statuses(_plain, "203.0.113.8", 3)).Count(s => s == 429).ShouldBeGreaterThanOrEqualTo(2);
    }

    private static void ShouldDrain(int[] statuses)
    {
        statuses.Take(3).ShouldAllBe(s => s == 401);
        statuses.Skip(3).Count(s => s == 429).ShouldBeGreaterThanOrEqualTo(2);
    }

    private static async Task<int[]> Statuses(HostProcess host, string forwardedFor, int count)
    {
        using var client = host.Client("sk_not_a_key");
        var statuses = new List<int>();
        for (var i = 0; i < count; i++)
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, "/v1/payments");
            request.Headers.TryAddWithoutValidation("X-Forwarded-For", forwardedFor);
            using var answer = await client.SendAsync(request);
            answer.Content.Headers.ContentType?.MediaType.ShouldBe("application/problem+json");
            statuses.Add((int)answer.StatusCode);
        }
        return [.. statuses];
    }

    public async ValueTask DisposeAsync()
    {
        await _trusting.DisposeAsync();
        await _plain.DisposeAsync();
        await _trustingDb.DisposeAsync();
        await _plainDb.DisposeAsync();
    }
}
