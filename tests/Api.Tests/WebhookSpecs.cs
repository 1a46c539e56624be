using System.Net;
using System.Text.Json.Nodes;
using Alba;
using Ledger.Host.Notifications;
using Ledger.Host.Webhooks;
using Microsoft.Extensions.DependencyInjection;
using Shouldly;
using Xunit;

namespace Ledger.Api.Tests;

/// <summary>The ledger with webhook retries in milliseconds rather than minutes, and its agents started within a second.</summary>
public sealed class WebhookApp : LedgerApp
{
    protected override IEnumerable<KeyValuePair<string, string>> Settings => WebhookSettings.Fast;
}

public static class WebhookSettings
{
    public static readonly Dictionary<string, string> Fast = new()
    {
        ["Ledger:Webhooks:FirstRetryAfter"] = "00:00:00.100",
        ["Ledger:Webhooks:MaxRetryInterval"] = "00:00:00.400",
        ["Ledger:Webhooks:PollEvery"] = "00:00:00.100",
        ["Ledger:Webhooks:AudienceRefresh"] = "00:00:00.200",
        ["Ledger:Webhooks:Timeout"] = "00:00:02",
        ["Ledger:Cluster:FirstHeartbeatAfter"] = "00:00:00.250",
        ["Ledger:Cluster:CheckAssignmentsEvery"] = "00:00:01",
    };

    public static async Task<(string Id, string Secret)> CreateEndpoint(this LedgerApp app, string apiKey, string url, params string[] events)
    {
        var created = await app.Scenario(apiKey, s =>
        {
            s.Post.Json(new JsonObject { ["url"] = url, ["events"] = new JsonArray(events.Select(e => (JsonNode)e).ToArray()) })
                .ToUrl("/v1/webhook-endpoints");
            s.StatusCodeShouldBe(201);
        });
        var body = await created.ReadAsJsonAsync<JsonObject>();
        return (body!["id"]!.GetValue<string>(), body["secret"]!.GetValue<string>());
    }
}

/// <summary>
/// Webhooks (issue 14): a merchant's endpoint gets each event of its payments once, signed, in order per payment; a
/// receiver that fails is retried and, past the retry window, the delivery is dead and can be sent again. Real HTTP both
/// ways: the ledger in-process, the receiver a Kestrel server on a loopback port.
/// </summary>
public sealed class WebhookSpecs(WebhookApp app) : IClassFixture<WebhookApp>, IAsyncLifetime
{
    private readonly WebhookReceiver _receiver = new();
    private readonly List<(string ApiKey, string Id)> _endpoints = [];
    private static readonly string[] AllTypes = ["payment.succeeded", "payment.failed", "payment.refunded"];

    public async ValueTask InitializeAsync() => await _receiver.StartAsync();

    /// <summary>The specs share one database: each deletes its endpoints, so no spec's charges reach another's receivers.</summary>
    public async ValueTask DisposeAsync()
    {
        foreach (var (apiKey, id) in _endpoints) await app.Client(apiKey).DeleteAsync($"/v1/webhook-endpoints/{id}");
        await _receiver.DisposeAsync();
    }

    private async Task<(string Id, string Secret)> Endpoint(string apiKey, string url, params string[] events)
    {
        var created = await app.CreateEndpoint(apiKey, url, events);
        _endpoints.Add((apiKey, created.Id));
        return created;
    }

    [Fact]
    public async Task A_committed_charge_is_delivered_once_signed_with_the_endpoints_secret()
    {
        var (endpoint, secret) = await Endpoint(LedgerApp.Acme, _receiver.Url, AllTypes);
        secret.ShouldStartWith("whsec_");

        var charged = await (await app.Client(LedgerApp.Acme).Charge()).Json();
        var paymentId = charged.Str("id");
        await _receiver.WaitUntil(r => r.Any(x => x.PaymentId == paymentId), what: "the charge");

        var delivery = _receiver.Received.Single(x => x.PaymentId == paymentId);
        delivery.Type.ShouldBe("payment.succeeded");
        delivery.EventId.ShouldBe($"evt_{paymentId[4..]}_2");
        delivery.EventIdHeader.ShouldBe(delivery.EventId);
        delivery.Json.GetProperty("data").GetProperty("payment").GetProperty("status").GetString().ShouldBe("succeeded");
        delivery.Json.GetProperty("data").GetProperty("payment").GetProperty("amount").GetInt64().ShouldBe(1250);
        WebhookSignature.Verify(secret, delivery.Signature, delivery.Body, DateTimeOffset.UtcNow, TimeSpan.FromMinutes(5)).ShouldBeTrue();

        // Recorded as delivered with one attempt, answered 200; and never sent again.
        await app.Database.WaitUntil("select exists (select 1 from webhook_deliveries where payment_id = $1 and status <> 'pending')", paymentId);
        var deliveries = await Deliveries(LedgerApp.Acme, endpoint);
        var row = deliveries["data"]!.AsArray().Single(d => d!["paymentId"]!.GetValue<string>() == paymentId)!;
        row["status"]!.GetValue<string>().ShouldBe("delivered");
        row["eventId"]!.GetValue<string>().ShouldBe(delivery.EventId);
        row["attempts"]!.AsArray().Select(a => a!["statusCode"]!.GetValue<int>()).ShouldBe([200]);
        (await app.Database.ScalarAsync<long>("select count(*) from webhook_deliveries where payment_id = $1 and endpoint_id = $2", paymentId, endpoint))
            .ShouldBe(1);
        _receiver.Received.Count(x => x.PaymentId == paymentId).ShouldBe(1);
    }

    [Fact]
    public async Task A_charge_whose_transaction_rolls_back_sends_nothing_and_the_next_one_is_sent()
    {
        await Endpoint(LedgerApp.Acme, _receiver.Url, AllTypes);
        // The charge's second transaction (PaymentCharged, its projections, its notification) fails inside PostgreSQL.
        await app.Database.ExecuteAsync("""
            create or replace function fail_rolled_back_order() returns trigger language plpgsql as $$
            begin
                if (select order_id from receipts where payment_id = new.payment_id) = 'order-rolled-back' then
                    raise exception 'injected failure';
                end if;
                return new;
            end $$;
            create trigger fail_rolled_back_order before insert on receipt_lines for each row execute function fail_rolled_back_order();
            """);
        try
        {
            var doomed = await app.Client(LedgerApp.Acme).Charge(Requests.Charge(orderId: "order-rolled-back"));
            doomed.StatusCode.ShouldBe(HttpStatusCode.InternalServerError);
            var rolledBack = await app.Database.ScalarAsync<string>("select id from payment_views where order_id = 'order-rolled-back'");
            (await app.Database.ScalarAsync<string>("select status from payment_views where id = $1", rolledBack)).ShouldBe("pending");

            var next = await (await app.Client(LedgerApp.Acme).Charge(Requests.Charge(orderId: "order-after"))).Json();
            await _receiver.WaitUntil(r => r.Any(x => x.PaymentId == next.Str("id")), what: "the next charge");
            _receiver.Received.ShouldNotContain(x => x.PaymentId == rolledBack);
            (await app.Database.ScalarAsync<long>("select count(*) from webhook_deliveries where payment_id = $1", rolledBack)).ShouldBe(0);
            // Nothing of it waits in the outbox either: no envelope names its event.
            (await app.Database.ScalarAsync<long>(
                "select count(*) from wolverine.wolverine_incoming_envelopes where position(convert_to($1, 'UTF8') in body) > 0", rolledBack)).ShouldBe(0);
            (await app.Database.ScalarAsync<long>(
                "select count(*) from wolverine.wolverine_incoming_envelopes where position(convert_to($1, 'UTF8') in body) > 0", next.Str("id"))).ShouldBe(1);
        }
        finally
        {
            await app.Database.ExecuteAsync("drop trigger fail_rolled_back_order on receipt_lines");
        }
    }

    [Fact]
    public async Task A_receiver_that_was_down_gets_every_event_once_back_in_stream_order_per_payment()
    {
        var down = new WebhookReceiver();
        var (endpoint, _) = await Endpoint(LedgerApp.Globex, down.Url, AllTypes);
        var client = app.Client(LedgerApp.Globex);
        var payments = new List<string>();
        for (var i = 0; i < 8; i++)
        {
            var id = (await (await client.Charge(Requests.Charge(amount: 1000, card: i == 7 ? "4000000000000002" : Requests.GoodCard))).Json()).Str("id");
            payments.Add(id);
            if (i == 7) continue; // declined: one payment.failed
            for (var r = 0; r < 2; r++)
                (await client.PostJson($"/v1/payments/{id}/refunds", new JsonObject { ["amount"] = 100 }, Requests.NewKey())).StatusCode.ShouldBe(HttpStatusCode.Created);
        }
        // Nobody listening: every first event has failed at least twice before the receiver comes up.
        await app.Database.WaitUntil(
            "select count(*) = 8 from webhook_deliveries where endpoint_id = $1 and version = 2 and status = 'pending' and attempt_count >= 2", endpoint);
        (await app.Database.ScalarAsync<long>(
            "select count(*) from webhook_deliveries where endpoint_id = $1 and version > 2 and attempt_count > 0", endpoint)).ShouldBe(0);

        await down.StartAsync();
        try
        {
            await down.WaitUntil(r => r.Select(x => x.EventId).Distinct().Count() == 8 + 7 * 2, what: "all 22 events");
            var accepted = down.Accepted();
            var expected = await app.Database.ScalarAsync<string[]>("""
                select array_agg('evt_' || substr(stream_id, 5) || '_' || version order by stream_id, version) from ledger.events
                where stream_id = any($1) and type <> 'payment_requested'
                """, (object)payments.ToArray());
            accepted.Select(a => a.EventId).Order().ShouldBe(expected.Order());
            foreach (var payment in accepted.GroupBy(a => a.PaymentId))
                payment.Select(a => a.Version).ShouldBe(payment.Select(a => a.Version).Order(), $"{payment.Key} arrived out of order");
            accepted.Single(a => a.Type == "payment.failed").Json.GetProperty("data").GetProperty("payment").GetProperty("failureCode").GetString()
                .ShouldBe("card_declined");
        }
        finally
        {
            await down.DisposeAsync();
        }
    }

    [Fact]
    public async Task An_endpoint_gets_only_the_event_types_it_asked_for()
    {
        var refundsOnly = new WebhookReceiver();
        await refundsOnly.StartAsync();
        try
        {
            await Endpoint(LedgerApp.Acme, _receiver.Url, AllTypes);
            await Endpoint(LedgerApp.Acme, refundsOnly.Url, "payment.refunded");
            var id = (await (await app.Client(LedgerApp.Acme).Charge()).Json()).Str("id");
            (await app.Client(LedgerApp.Acme).PostJson($"/v1/payments/{id}/refunds", new JsonObject { ["amount"] = 250 }, Requests.NewKey()))
                .StatusCode.ShouldBe(HttpStatusCode.Created);
            await refundsOnly.WaitUntil(r => r.Any(x => x.PaymentId == id), what: "the refund");
            var refund = refundsOnly.Received.Where(x => x.PaymentId == id).ShouldHaveSingleItem();
            refund.Type.ShouldBe("payment.refunded");
            refund.Json.GetProperty("data").GetProperty("refund").GetProperty("amount").GetInt64().ShouldBe(250);
            refund.Json.GetProperty("data").GetProperty("payment").GetProperty("status").GetString().ShouldBe("partially_refunded");
            // The charge made a delivery for the other endpoints only.
            await _receiver.WaitUntil(r => r.Any(x => x.PaymentId == id && x.Type == "payment.refunded"), what: "the refund on the catch-all endpoint");
            refundsOnly.Received.ShouldNotContain(x => x.Type == "payment.succeeded");
        }
        finally
        {
            await refundsOnly.DisposeAsync();
        }
    }

    [Fact]
    public async Task A_merchant_never_sees_nor_receives_another_merchants_webhooks()
    {
        var globexReceiver = new WebhookReceiver();
        await globexReceiver.StartAsync();
        try
        {
            var (acmeEndpoint, _) = await Endpoint(LedgerApp.Acme, _receiver.Url, AllTypes);
            await Endpoint(LedgerApp.Globex, globexReceiver.Url, AllTypes);
            var globexPayment = (await (await app.Client(LedgerApp.Globex).Charge()).Json()).Str("id");
            var acmePayment = (await (await app.Client(LedgerApp.Acme).Charge()).Json()).Str("id");
            await globexReceiver.WaitUntil(r => r.Any(x => x.PaymentId == globexPayment), what: "globex's charge");
            await _receiver.WaitUntil(r => r.Any(x => x.PaymentId == acmePayment), what: "acme's charge");
            _receiver.Received.ShouldNotContain(x => x.PaymentId == globexPayment);
            globexReceiver.Received.ShouldNotContain(x => x.PaymentId == acmePayment);

            foreach (var (method, path) in new[]
            {
                ("GET", $"/v1/webhook-endpoints/{acmeEndpoint}"), ("DELETE", $"/v1/webhook-endpoints/{acmeEndpoint}"),
                ("GET", $"/v1/webhook-endpoints/{acmeEndpoint}/deliveries"), ("POST", $"/v1/webhook-endpoints/{acmeEndpoint}/deliveries/whd_x/retry"),
            })
                await app.Scenario(LedgerApp.Globex, s =>
                {
                    (method switch { "GET" => s.Get, "DELETE" => s.Delete, _ => s.Post }).Url(path);
                    s.StatusCodeShouldBe(404);
                    s.ContentTypeShouldBe("application/problem+json");
                });
            var globexList = await (await app.Scenario(LedgerApp.Globex, s => s.Get.Url("/v1/webhook-endpoints?limit=100"))).ReadAsJsonAsync<JsonObject>();
            globexList!["data"]!.AsArray().ShouldAllBe(e => e!["merchantId"]!.GetValue<string>() == "globex");
            var auditorList = await (await app.Scenario(LedgerApp.Auditor, s => s.Get.Url("/v1/webhook-endpoints?limit=100"))).ReadAsJsonAsync<JsonObject>();
            auditorList!["data"]!.AsArray().Select(e => e!["merchantId"]!.GetValue<string>()).Distinct().Order().ShouldBe(["acme", "globex"]);
            (await app.Database.ScalarAsync<bool>("select deleted_at is null from webhook_endpoints where id = $1", acmeEndpoint)).ShouldBeTrue();
        }
        finally
        {
            await globexReceiver.DisposeAsync();
        }
    }

    [Fact]
    public async Task A_merchant_without_endpoints_stores_no_notifications_and_its_first_endpoint_gets_the_next_charge()
    {
        await WaitUntilGlobexHasNoListener();
        var unheard = (await (await app.Client(LedgerApp.Globex).Charge()).Json()).Str("id");
        (await EnvelopesNaming(unheard)).ShouldBe(0);

        // Created on this host, the endpoint counts at once: the very next charge is published and delivered.
        var receiver = new WebhookReceiver();
        await receiver.StartAsync();
        try
        {
            await Endpoint(LedgerApp.Globex, receiver.Url, AllTypes);
            var heard = (await (await app.Client(LedgerApp.Globex).Charge()).Json()).Str("id");
            (await EnvelopesNaming(heard)).ShouldBe(1);
            await receiver.WaitUntil(r => r.Any(x => x.PaymentId == heard), what: "the first charge after the endpoint");
            receiver.Received.ShouldNotContain(x => x.PaymentId == unheard);
            (await app.Database.ScalarAsync<long>("select count(*) from webhook_deliveries where payment_id = $1", unheard)).ShouldBe(0);
        }
        finally
        {
            await receiver.DisposeAsync();
        }
    }

    [Fact]
    public async Task An_endpoint_another_host_created_gets_the_charges_made_here_after_one_refresh()
    {
        await WaitUntilGlobexHasNoListener();
        var receiver = new WebhookReceiver();
        await receiver.StartAsync();
        try
        {
            // Another host's creation: the row, with its secret sealed as that host would, written straight to the database.
            var id = $"we_{Guid.NewGuid():N}";
            var secret = WebhookSecrets.NewSecret();
            var (keyId, sealedSecret) = app.Services.GetRequiredService<WebhookSecrets>().Seal(secret, id);
            await app.Database.ExecuteAsync("""
                insert into webhook_endpoints (id, merchant_id, url, event_types, secret_key_id, secret_sealed, created_at)
                values ($1, 'globex', $2, array['payment.succeeded'], $3, $4, now())
                """, id, receiver.Url, keyId, sealedSecret);
            _endpoints.Add((LedgerApp.Globex, id));
            var audience = app.Services.GetRequiredService<NotificationAudience>();
            await Waiting.Until(() => audience.Listens("globex"), TimeSpan.FromSeconds(5), "this host to read the new endpoint");

            var charged = (await (await app.Client(LedgerApp.Globex).Charge()).Json()).Str("id");
            await receiver.WaitUntil(r => r.Any(x => x.PaymentId == charged), what: "the charge");
            var delivery = receiver.Received.Single(x => x.PaymentId == charged);
            WebhookSignature.Verify(secret, delivery.Signature, delivery.Body, DateTimeOffset.UtcNow, TimeSpan.FromMinutes(5)).ShouldBeTrue();
        }
        finally
        {
            await receiver.DisposeAsync();
        }
    }

    /// <summary>Globex's endpoints of earlier specs are deleted; this host stops publishing for it at its next read.</summary>
    private async Task WaitUntilGlobexHasNoListener()
    {
        (await app.Database.ScalarAsync<long>("select count(*) from webhook_endpoints where merchant_id = 'globex' and deleted_at is null")).ShouldBe(0);
        var audience = app.Services.GetRequiredService<NotificationAudience>();
        audience.Everyone.ShouldBeFalse();
        await Waiting.Until(() => !audience.Listens("globex"), TimeSpan.FromSeconds(5), "this host to forget globex's deleted endpoints");
    }

    private Task<long> EnvelopesNaming(string paymentId) => app.Database.ScalarAsync<long>(
        "select count(*) from wolverine.wolverine_incoming_envelopes where position(convert_to($1, 'UTF8') in body) > 0", paymentId);

    [Fact]
    public async Task The_secret_is_shown_once_and_kept_only_sealed()
    {
        var (endpoint, secret) = await Endpoint(LedgerApp.Acme, _receiver.Url, AllTypes);
        var shown = await (await app.Scenario(LedgerApp.Acme, s => s.Get.Url($"/v1/webhook-endpoints/{endpoint}"))).ReadAsTextAsync();
        shown.ShouldNotContain(secret);
        shown.ShouldNotContain("secret");
        var listed = await (await app.Scenario(LedgerApp.Acme, s => s.Get.Url("/v1/webhook-endpoints"))).ReadAsTextAsync();
        listed.ShouldNotContain(secret);
        // Nowhere in the database in the clear, nor in the log.
        var dump = await app.Database.ScalarAsync<string>("select string_agg(t::text, ' ') from webhook_endpoints t");
        dump.ShouldNotContain(secret);
        dump.ShouldNotContain(secret["whsec_".Length..]);
        app.Logs.All.ShouldNotContain(secret["whsec_".Length..]);
    }

    [Fact]
    public async Task Bad_endpoints_are_refused_with_a_problem_and_nothing_is_stored()
    {
        var before = await app.Database.ScalarAsync<long>("select count(*) from webhook_endpoints");
        foreach (var (body, field) in new (string Body, string Field)[]
        {
            ("""{"events":["payment.succeeded"]}""", "url"),
            ("""{"url":"not a url","events":["payment.succeeded"]}""", "url"),
            ("""{"url":"ftp://127.0.0.1/x","events":["payment.succeeded"]}""", "url"),
            ("""{"url":"http://user:pw@127.0.0.1/x","events":["payment.succeeded"]}""", "url"),
            ($$"""{"url":"{{_receiver.Url}}"}""", "events"),
            ($$"""{"url":"{{_receiver.Url}}","events":[]}""", "events"),
            ($$"""{"url":"{{_receiver.Url}}","events":["payment.exploded"]}""", "events"),
            ($$"""{"url":"{{_receiver.Url}}","events":["payment.failed","payment.failed"]}""", "events"),
            ($$"""{"url":"{{_receiver.Url}}","events":["payment.failed"],"description":"{{new string('x', 201)}}"}""", "description"),
            ($$"""{"url":"{{_receiver.Url}}","events":["payment.failed"],"secret":"mine"}""", "secret"),
        })
        {
            var answer = await app.Client(LedgerApp.Acme).PostRaw("/v1/webhook-endpoints", body);
            answer.StatusCode.ShouldBe(HttpStatusCode.BadRequest, body);
            answer.Content.Headers.ContentType!.MediaType.ShouldBe("application/problem+json");
            var problem = await answer.Json();
            problem.Str("code").ShouldBe("validation_failed");
            problem.GetProperty("errors").TryGetProperty(field, out _).ShouldBeTrue($"{body}: {problem}");
        }
        (await app.Client(LedgerApp.Auditor).PostRaw("/v1/webhook-endpoints", $$"""{"url":"{{_receiver.Url}}","events":["payment.failed"]}"""))
            .StatusCode.ShouldBe(HttpStatusCode.Forbidden);
        (await app.Client(null).PostRaw("/v1/webhook-endpoints", $$"""{"url":"{{_receiver.Url}}","events":["payment.failed"]}"""))
            .StatusCode.ShouldBe(HttpStatusCode.Unauthorized);
        (await app.Database.ScalarAsync<long>("select count(*) from webhook_endpoints")).ShouldBe(before);
    }

    [Fact]
    public async Task A_deleted_endpoint_is_gone_and_its_pending_deliveries_are_canceled()
    {
        var down = new WebhookReceiver(); // never started: its deliveries stay pending
        var (endpoint, _) = await Endpoint(LedgerApp.Acme, down.Url, AllTypes);
        var id = (await (await app.Client(LedgerApp.Acme).Charge()).Json()).Str("id");
        await app.Database.WaitUntil(
            "select exists (select 1 from webhook_deliveries where endpoint_id = $1 and payment_id = $2 and attempt_count >= 1)", endpoint, id);

        var deleted = await app.Scenario(LedgerApp.Acme, s => s.Delete.Url($"/v1/webhook-endpoints/{endpoint}"));
        var body = (await deleted.ReadAsJsonAsync<JsonObject>())!;
        (body["id"]!.GetValue<string>(), body["deleted"]!.GetValue<bool>()).ShouldBe((endpoint, true));
        (await app.Database.ScalarAsync<string>("select status from webhook_deliveries where endpoint_id = $1 and payment_id = $2", endpoint, id))
            .ShouldBe("canceled");
        await app.Scenario(LedgerApp.Acme, s => { s.Get.Url($"/v1/webhook-endpoints/{endpoint}"); s.StatusCodeShouldBe(404); });
        await app.Scenario(LedgerApp.Acme, s => { s.Delete.Url($"/v1/webhook-endpoints/{endpoint}"); s.StatusCodeShouldBe(404); });
        var attempts = await app.Database.ScalarAsync<int>("select attempt_count from webhook_deliveries where endpoint_id = $1", endpoint);
        await down.StartAsync();
        try
        {
            // The next charge reaches the live endpoint; by then the deleted one would have been tried again.
            await Endpoint(LedgerApp.Acme, _receiver.Url, AllTypes);
            var next = (await (await app.Client(LedgerApp.Acme).Charge()).Json()).Str("id");
            await _receiver.WaitUntil(r => r.Any(x => x.PaymentId == next), what: "the next charge");
            await Task.Delay(TimeSpan.FromMilliseconds(500), TestContext.Current.CancellationToken); // several dispatcher rounds (PollEvery 100 ms)
            down.Received.ShouldBeEmpty();
            (await app.Database.ScalarAsync<int>("select attempt_count from webhook_deliveries where endpoint_id = $1", endpoint)).ShouldBe(attempts);
        }
        finally
        {
            await down.DisposeAsync();
        }
    }

    [Fact]
    public async Task The_documented_receiver_check_accepts_a_real_delivery_and_refuses_forged_tampered_or_stale_ones()
    {
        var (_, secret) = await Endpoint(LedgerApp.Acme, _receiver.Url, AllTypes);
        var paymentId = (await (await app.Client(LedgerApp.Acme).Charge()).Json()).Str("id");
        await _receiver.WaitUntil(r => r.Any(x => x.PaymentId == paymentId), what: "the charge");
        var delivery = _receiver.Received.First(x => x.PaymentId == paymentId);

        async Task<int> Check(string useSecret, string signature, string body)
        {
            var file = Path.Combine(Path.GetTempPath(), $"webhook-{Guid.NewGuid():N}.json");
            await File.WriteAllTextAsync(file, body, TestContext.Current.CancellationToken);
            var run = await ChildProcess.RunAsync("python3",
                [Path.Combine(ChildProcess.RepositoryRoot(), "scripts", "verify-webhook.py"), "--secret", useSecret, "--signature", signature, "--body-file", file]);
            File.Delete(file);
            return run.Exit;
        }

        (await Check(secret, delivery.Signature!, delivery.Body)).ShouldBe(0);
        (await Check(secret, delivery.Signature!, delivery.Body.Replace("\"amount\":1250", "\"amount\":9250"))).ShouldBe(1); // tampered body
        (await Check("whsec_someone_elses_secret", delivery.Signature!, delivery.Body)).ShouldBe(1);             // forged with another secret
        var stale = DateTimeOffset.UtcNow.AddMinutes(-10).ToUnixTimeSeconds();
        (await Check(secret, WebhookSignature.Sign(secret, stale, delivery.Body), delivery.Body)).ShouldBe(1);   // replayed: a genuine but old signature
        (await Check(secret, "t=abc,v1=00", delivery.Body)).ShouldBe(1);                                         // malformed
        // The host's own check agrees.
        WebhookSignature.Verify(secret, WebhookSignature.Sign(secret, stale, delivery.Body), delivery.Body, DateTimeOffset.UtcNow, TimeSpan.FromMinutes(5)).ShouldBeFalse();
        WebhookSignature.Verify("whsec_other", delivery.Signature, delivery.Body, DateTimeOffset.UtcNow, TimeSpan.FromMinutes(5)).ShouldBeFalse();
    }

    [Fact]
    public async Task The_command_line_lists_endpoints_and_replays_a_range_of_deliveries()
    {
        var (endpoint, _) = await Endpoint(LedgerApp.Globex, _receiver.Url, AllTypes);
        var since = DateTimeOffset.UtcNow.AddSeconds(-1);
        var payments = new List<string>();
        for (var i = 0; i < 2; i++) payments.Add((await (await app.Client(LedgerApp.Globex).Charge()).Json()).Str("id"));
        await app.Database.WaitUntil("select count(*) = 2 from webhook_deliveries where endpoint_id = $1 and status = 'delivered'", endpoint);

        var (listed, list) = await Cli.Run(app, "webhooks", "list", "--merchant", "globex");
        listed.ShouldBe(0, list);
        var row = list.Split('\n').Single(l => l.Contains(endpoint));
        row.ShouldContain(_receiver.Url);
        row.Split('│', StringSplitOptions.TrimEntries).ShouldContain("2"); // delivered

        var (replayed, output) = await Cli.Run(app, "webhooks", "replay", "--endpoint", endpoint, "--since", since.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'"));
        replayed.ShouldBe(0, output);
        output.ShouldContain("2 deliveries");
        await _receiver.WaitUntil(r => payments.All(p => r.Count(x => x.PaymentId == p) == 2), what: "each charge a second time");
        foreach (var p in payments)
            _receiver.Received.Where(x => x.PaymentId == p).Select(x => (x.EventId, x.Body)).Distinct().ShouldHaveSingleItem();
        await app.Database.WaitUntil("select count(*) = 2 from webhook_deliveries where endpoint_id = $1 and status = 'delivered' and attempt_count = 2", endpoint);

        (await Cli.Run(app, "webhooks", "replay", "--endpoint", endpoint)).ExitCode.ShouldBe(2);
        (await Cli.Run(app, "webhooks", "replay", "--endpoint", "we_none", "--since", "2026-01-01T00:00:00Z")).ExitCode.ShouldBe(2);
        (await Cli.Run(app, "webhooks", "replay", "--endpoint", endpoint, "--since", "yesterday")).ExitCode.ShouldBe(2);
        (await Cli.Run(app, "webhooks", "unplug")).ExitCode.ShouldBe(2);
    }

    [Fact]
    public async Task Racing_creations_never_pass_the_limit_of_endpoints_per_merchant()
    {
        var live = await app.Database.ScalarAsync<long>("select count(*) from webhook_endpoints where merchant_id = 'globex' and deleted_at is null");
        var answers = await Task.WhenAll(Enumerable.Range(0, 20).Select(i => app.Client(LedgerApp.Globex).PostJson("/v1/webhook-endpoints",
            new JsonObject { ["url"] = $"http://127.0.0.1:9/race/{i}", ["events"] = new JsonArray("payment.failed") })));
        foreach (var created in answers.Where(a => a.StatusCode == HttpStatusCode.Created))
            _endpoints.Add((LedgerApp.Globex, (await created.Json()).Str("id")));
        answers.Count(a => a.StatusCode == HttpStatusCode.Created).ShouldBe((int)(16 - live));
        foreach (var refused in answers.Where(a => a.StatusCode != HttpStatusCode.Created))
        {
            refused.StatusCode.ShouldBe(HttpStatusCode.Conflict);
            (await refused.Json()).Str("code").ShouldBe("webhook_endpoint_limit");
        }
        (await app.Database.ScalarAsync<long>("select count(*) from webhook_endpoints where merchant_id = 'globex' and deleted_at is null")).ShouldBe(16);
    }

    private async Task<JsonObject> Deliveries(string apiKey, string endpoint)
    {
        var result = await app.Scenario(apiKey, s =>
        {
            s.Get.Url($"/v1/webhook-endpoints/{endpoint}/deliveries?limit=100");
            s.StatusCodeShouldBe(200);
        });
        return (await result.ReadAsJsonAsync<JsonObject>())!;
    }
}
