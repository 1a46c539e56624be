using System.Net;
using System.Text.Json.Nodes;
using Alba;
using Shouldly;
using Xunit;

namespace Ledger.Api.Tests;

/// <summary>The ledger with a webhook retry window of two seconds, so a delivery dies within a spec.</summary>
public sealed class ShortRetryApp : LedgerApp
{
    protected override IEnumerable<KeyValuePair<string, string>> Settings =>
        WebhookSettings.Fast.Append(new("Ledger:Webhooks:RetryFor", "00:00:02"));
}

/// <summary>
/// A receiver that keeps failing: retried with growing waits until the retry window has passed, then dead-lettered
/// with every attempt listed; sent again on request with the same event id and body.
/// </summary>
public sealed class WebhookRetrySpecs(ShortRetryApp app) : IClassFixture<ShortRetryApp>, IAsyncLifetime
{
    private readonly WebhookReceiver _receiver = new() { AnswerWith = 500 };

    public async ValueTask InitializeAsync() => await _receiver.StartAsync();
    public async ValueTask DisposeAsync() => await _receiver.DisposeAsync();

    [Fact]
    public async Task A_delivery_that_keeps_failing_is_retried_with_backoff_then_dead_and_a_retry_sends_the_same_event_again()
    {
        var (endpoint, _) = await app.CreateEndpoint(LedgerApp.Acme, _receiver.Url, "payment.succeeded");
        var paymentId = (await (await app.Client(LedgerApp.Acme).Charge()).Json()).Str("id");
        await app.Database.WaitUntil("select exists (select 1 from webhook_deliveries where payment_id = $1 and status = 'dead')", paymentId);

        var dead = await app.Scenario(LedgerApp.Acme, s => s.Get.Url($"/v1/webhook-endpoints/{endpoint}/deliveries?status=dead"));
        var delivery = (await dead.ReadAsJsonAsync<JsonObject>())!["data"]!.AsArray().Single(d => d!["paymentId"]!.GetValue<string>() == paymentId)!;
        var attempts = delivery["attempts"]!.AsArray();
        attempts.Count.ShouldBeGreaterThanOrEqualTo(3);
        attempts.ShouldAllBe(a => a!["statusCode"]!.GetValue<int>() == 500);
        attempts.Select(a => a!["attempt"]!.GetValue<int>()).ShouldBe(Enumerable.Range(1, attempts.Count));
        // Waits between attempts grow (first retry after ~50-100 ms, capped at ~200-400 ms), and the last is past the window.
        // The wait before the last attempt is cut short where the window ends (a retry is never scheduled past it), so it
        // may be any length: the waits before it are the backoff's.
        var times = attempts.Select(a => a!["at"]!.GetValue<DateTime>()).ToList();
        times.Zip(times.Skip(1), (a, b) => b - a).SkipLast(1).ShouldAllBe(gap => gap >= TimeSpan.FromMilliseconds(40));
        times[^1].ShouldBeGreaterThanOrEqualTo(delivery["retryUntil"]!.GetValue<DateTime>().AddMilliseconds(-1));
        delivery["nextAttemptAt"].ShouldBeNull();
        var sentWhileFailing = _receiver.Received.Where(r => r.PaymentId == paymentId).ToList();
        sentWhileFailing.Count.ShouldBe(attempts.Count);
        sentWhileFailing.Select(r => r.Body).Distinct().ShouldHaveSingleItem();

        _receiver.AnswerWith = 200;
        var deliveryId = delivery["id"]!.GetValue<string>();
        var retried = await app.Scenario(LedgerApp.Acme, s =>
        {
            s.Post.Url($"/v1/webhook-endpoints/{endpoint}/deliveries/{deliveryId}/retry");
            s.StatusCodeShouldBe(202);
        });
        (await retried.ReadAsJsonAsync<JsonObject>())!["status"]!.GetValue<string>().ShouldBe("pending");
        await app.Database.WaitUntil("select status = 'delivered' from webhook_deliveries where id = $1", deliveryId);
        var accepted = _receiver.Received.Last(r => r.PaymentId == paymentId);
        accepted.AnsweredWith.ShouldBe(200);
        accepted.Body.ShouldBe(sentWhileFailing[0].Body);
        accepted.EventId.ShouldBe($"evt_{paymentId[4..]}_2");

        // A retry of another endpoint's delivery, or of one that does not exist, is a 404; the auditor may not retry.
        await app.Scenario(LedgerApp.Acme, s => { s.Post.Url($"/v1/webhook-endpoints/{endpoint}/deliveries/whd_nope/retry"); s.StatusCodeShouldBe(404); });
        await app.Scenario(LedgerApp.Auditor, s => { s.Post.Url($"/v1/webhook-endpoints/{endpoint}/deliveries/{deliveryId}/retry"); s.StatusCodeShouldBe(403); });
    }
}
