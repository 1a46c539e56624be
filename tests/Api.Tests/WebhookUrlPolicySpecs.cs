using System.Net;
using System.Text.Json.Nodes;
using Ledger.Host.Webhooks;
using Microsoft.Extensions.DependencyInjection;
using Shouldly;
using Xunit;

namespace Ledger.Api.Tests;

/// <summary>The ledger with the production URL rules: https only, no non-public address, and a denied domain.</summary>
public sealed class StrictWebhookApp : LedgerApp
{
    protected override IEnumerable<KeyValuePair<string, string>> Settings =>
    [
        new("Ledger:Webhooks:AllowHttp", "false"),
        new("Ledger:Webhooks:AllowPrivateNetworks", "false"),
        new("Ledger:Webhooks:DeniedHosts:0", ".internal.example"),
    ];
}

/// <summary>The production rules with an allow-list: only these names.</summary>
public sealed class AllowListWebhookApp : LedgerApp
{
    protected override IEnumerable<KeyValuePair<string, string>> Settings =>
    [
        new("Ledger:Webhooks:AllowHttp", "false"),
        new("Ledger:Webhooks:AllowPrivateNetworks", "false"),
        new("Ledger:Webhooks:AllowedHosts:0", ".hooks.example.com"),
        new("Ledger:Webhooks:AllowedHosts:1", "orders.example.net"),
    ];
}

public sealed class WebhookAllowListSpecs(AllowListWebhookApp app) : IClassFixture<AllowListWebhookApp>
{
    [Theory]
    [InlineData("https://hooks.example.com/a", true)]
    [InlineData("https://eu.hooks.example.com/a", true)]
    [InlineData("https://orders.example.net/ledger", true)]
    [InlineData("https://shop.orders.example.net/ledger", false)]
    [InlineData("https://example.com/a", false)]
    [InlineData("https://hooks.example.com.evil.test/a", false)]
    [InlineData("http://hooks.example.com/a", false)]
    public async Task Only_allowed_hosts_may_receive_webhooks(string url, bool accepted)
    {
        var answer = await app.Client(LedgerApp.Acme).PostJson("/v1/webhook-endpoints",
            new JsonObject { ["url"] = url, ["events"] = new JsonArray("payment.succeeded") });
        answer.StatusCode.ShouldBe(accepted ? HttpStatusCode.Created : HttpStatusCode.BadRequest, url);
        (await app.Database.ScalarAsync<long>("select count(*) from webhook_endpoints where url = $1", url)).ShouldBe(accepted ? 1 : 0);
    }
}

/// <summary>
/// Outside Development a merchant cannot point Ledger's webhooks at plain http, at this machine or at a private network
/// (SSRF): refused when the endpoint is registered, and refused again when a delivery connects, whatever the name resolves to.
/// </summary>
public sealed class WebhookUrlPolicySpecs(StrictWebhookApp app) : IClassFixture<StrictWebhookApp>
{
    [Theory]
    [InlineData("http://hooks.example.com/ledger", "Must use https.")]
    [InlineData("https://127.0.0.1/hooks", "non-public")]
    [InlineData("https://127.1.2.3:8443/hooks", "non-public")]
    [InlineData("https://10.0.0.8/hooks", "non-public")]
    [InlineData("https://172.20.1.1/hooks", "non-public")]
    [InlineData("https://192.168.1.10/hooks", "non-public")]
    [InlineData("https://169.254.169.254/latest/meta-data", "non-public")]
    [InlineData("https://100.64.0.1/hooks", "non-public")]
    [InlineData("https://0.0.0.0/hooks", "non-public")]
    [InlineData("https://[::1]/hooks", "non-public")]
    [InlineData("https://[fd00::1]/hooks", "non-public")]
    [InlineData("https://[fe80::1]/hooks", "non-public")]
    [InlineData("https://[::ffff:10.0.0.1]/hooks", "non-public")]
    [InlineData("https://localhost/hooks", "loopback")]
    [InlineData("https://api.localhost/hooks", "loopback")]
    [InlineData("https://billing.internal.example/hooks", "not allowed")]
    public async Task A_url_outside_the_rules_is_refused_and_nothing_is_stored(string url, string reason)
    {
        var answer = await app.Client(LedgerApp.Acme).PostJson("/v1/webhook-endpoints",
            new JsonObject { ["url"] = url, ["events"] = new JsonArray("payment.succeeded") });
        answer.StatusCode.ShouldBe(HttpStatusCode.BadRequest);
        var problem = await answer.Json();
        problem.Str("code").ShouldBe("validation_failed");
        problem.GetProperty("errors").GetProperty("url")[0].GetString()!.ShouldContain(reason);
        (await app.Database.ScalarAsync<long>("select count(*) from webhook_endpoints where url = $1", url)).ShouldBe(0);
    }

    [Fact]
    public async Task A_public_https_url_is_accepted()
    {
        var answer = await app.Client(LedgerApp.Acme).PostJson("/v1/webhook-endpoints",
            new JsonObject { ["url"] = "https://hooks.example.com/ledger?shop=7", ["events"] = new JsonArray("payment.succeeded") });
        answer.StatusCode.ShouldBe(HttpStatusCode.Created);
        answer.Headers.Location!.ToString().ShouldStartWith("/v1/webhook-endpoints/we_");
    }

    [Theory]
    [InlineData("93.184.215.14", true)]
    [InlineData("8.8.8.8", true)]
    [InlineData("2606:4700:4700::1111", true)]
    [InlineData("198.51.100.7", false)]
    [InlineData("2001:db8::1", false)]
    [InlineData("64:ff9b::a00:1", false)]
    [InlineData("64:ff9b::808:808", true)]
    [InlineData("224.0.0.1", false)]
    [InlineData("255.255.255.255", false)]
    public void Addresses_are_judged_public_or_not(string address, bool isPublic) =>
        WebhookUrlPolicy.IsPublic(IPAddress.Parse(address)).ShouldBe(isPublic);

    [Fact]
    public async Task A_delivery_never_connects_to_a_name_that_resolves_to_a_non_public_address()
    {
        await using var receiver = new WebhookReceiver();
        await receiver.StartAsync();
        var policy = app.Services.GetRequiredService<WebhookUrlPolicy>();
        using var http = new HttpClient(new SocketsHttpHandler { ConnectCallback = policy.ConnectAsync, UseProxy = false });
        // "localhost" resolves to loopback here, as an attacker's name could: the connection is refused before it is made.
        var refused = await Should.ThrowAsync<HttpRequestException>(() =>
            http.PostAsync($"http://localhost:{receiver.Port}/hooks", new StringContent("{}")));
        refused.Message.ShouldContain("no address webhooks may be sent to");
        receiver.Received.ShouldBeEmpty();
    }
}
