using System.Net;
using System.Text.Json.Nodes;
using Ledger.Host.Http;
using Ledger.Host.WebConsole;
using Shouldly;
using Xunit;

namespace Ledger.Api.Tests;

/// <summary>
/// The console's server side (docs/console.md): sign-in exchanges a key for a session cookie and keeps the key nowhere,
/// every form carries a token, every page a policy that allows no inline script, and a merchant sees what the API lets
/// it see and no more. The browser specs (<see cref="ConsoleBrowserSpecs"/>) show the same pages working in Chromium.
/// </summary>
public sealed class ConsoleSpecs(LedgerApp app) : IClassFixture<LedgerApp>
{
    private ConsoleVisitor Visitor() => new(app.Client(null));

    private async Task<ConsoleVisitor> SignedIn(string key)
    {
        var visitor = Visitor();
        var answer = await visitor.SignInAsync(key);
        answer.StatusCode.ShouldBe(HttpStatusCode.SeeOther);
        answer.Headers.Location!.OriginalString.ShouldBe("/console/payments");
        return visitor;
    }

    private Task<long> Sessions() => app.Database.ScalarAsync<long>("select count(*) from console_sessions");

    [Fact]
    public async Task A_page_without_a_session_sends_the_browser_to_sign_in_and_back()
    {
        var answer = await Visitor().GetAsync("/console/payments?status=failed");

        answer.StatusCode.ShouldBe(HttpStatusCode.SeeOther);
        answer.Headers.Location!.OriginalString.ShouldBe("/console/sign-in?next=%2Fconsole%2Fpayments%3Fstatus%3Dfailed");
    }

    [Fact]
    public async Task Signing_in_sets_an_HttpOnly_SameSite_Strict_cookie_and_stores_neither_the_key_nor_its_token()
    {
        var visitor = Visitor();
        var answer = await visitor.SignInAsync(LedgerApp.Globex, next: "/console/metrics");

        answer.StatusCode.ShouldBe(HttpStatusCode.SeeOther);
        answer.Headers.Location!.OriginalString.ShouldBe("/console/metrics");
        var cookie = visitor.LastSetCookies.Single(c => c.StartsWith("ledger_console=", StringComparison.Ordinal));
        cookie.ShouldContain("httponly", Case.Insensitive);
        cookie.ShouldContain("samesite=strict", Case.Insensitive);
        cookie.ShouldContain("path=/console", Case.Insensitive);
        cookie.ShouldNotContain("expires", Case.Insensitive); // gone with the browser
        var token = visitor.Cookie("ledger_console")!;
        var stored = await app.Database.ScalarAsync<string>(
            "select string_agg(encode(token_hash, 'hex') || encode(key_mac, 'hex') || csrf_token, '') from console_sessions");
        // The token's SHA-256 is stored (its 256 random bits make that safe); the token itself, the key and the key's hash are not.
        foreach (var secret in new[] { LedgerApp.Globex, Hex(LedgerApp.Globex), token })
            stored.ShouldNotContain(secret);
        app.Logs.All.ShouldNotContain(LedgerApp.Globex);
        (await visitor.GetAsync("/console/metrics")).StatusCode.ShouldBe(HttpStatusCode.OK);
        visitor.LastBody.ShouldContain("Signed in as <strong>merchant globex</strong>");
    }

    private static string Hex(string s) => Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(s)));

    [Fact]
    public async Task A_wrong_key_is_a_401_page_that_does_not_repeat_it_and_opens_no_session()
    {
        var before = await Sessions();
        var visitor = Visitor();

        var answer = await visitor.SignInAsync("sk_guess_12345678");

        answer.StatusCode.ShouldBe(HttpStatusCode.Unauthorized);
        visitor.LastBody.ShouldContain("That key was not accepted.");
        visitor.LastBody.ShouldNotContain("sk_guess_12345678");
        visitor.Cookie("ledger_console").ShouldBeNull();
        (await Sessions()).ShouldBe(before);
    }

    [Fact]
    public async Task A_sign_in_posted_without_the_forms_token_is_refused_so_no_other_site_can_sign_a_browser_in()
    {
        var before = await Sessions();
        var visitor = Visitor();
        (await visitor.GetAsync("/console/sign-in")).StatusCode.ShouldBe(HttpStatusCode.OK);

        var forged = await visitor.PostFormAsync("/console/sign-in", ("key", LedgerApp.Acme), ("csrf", "made-up-by-another-site-0000000000000000"));
        var bare = await Visitor().PostFormAsync("/console/sign-in", ("key", LedgerApp.Acme));

        forged.StatusCode.ShouldBe(HttpStatusCode.BadRequest);
        bare.StatusCode.ShouldBe(HttpStatusCode.BadRequest);
        (await Sessions()).ShouldBe(before);
    }

    [Theory]
    [InlineData("https://evil.example/phish")]
    [InlineData("//evil.example/phish")]
    [InlineData("/console\\..\\..\\evil")]
    [InlineData("/v1/payments")]
    public async Task After_sign_in_the_browser_goes_only_to_a_console_page(string next)
    {
        var answer = await Visitor().SignInAsync(LedgerApp.Acme, next);

        answer.StatusCode.ShouldBe(HttpStatusCode.SeeOther);
        answer.Headers.Location!.OriginalString.ShouldBe("/console/payments");
    }

    [Fact]
    public async Task Signing_out_needs_the_sessions_token_and_then_ends_the_session_in_the_database()
    {
        var visitor = await SignedIn(LedgerApp.Acme);
        (await visitor.GetAsync("/console/payments")).StatusCode.ShouldBe(HttpStatusCode.OK);
        var token = visitor.Cookie("ledger_console")!;

        (await visitor.PostFormAsync("/console/sign-out", ("csrf", "not-the-token"))).StatusCode.ShouldBe(HttpStatusCode.BadRequest);
        (await visitor.GetAsync("/console/payments")).StatusCode.ShouldBe(HttpStatusCode.OK);

        var signedOut = await visitor.PostFormAsync("/console/sign-out", ("csrf", visitor.Csrf!));
        signedOut.StatusCode.ShouldBe(HttpStatusCode.SeeOther);
        signedOut.Headers.Location!.OriginalString.ShouldBe("/console/sign-in");
        visitor.Cookie("ledger_console").ShouldBeNull();
        // The old cookie, replayed (stolen, say), opens nothing: the session is gone from the table, not just the browser.
        var replay = new HttpRequestMessage(HttpMethod.Get, "/console/payments");
        replay.Headers.Add("Cookie", $"ledger_console={token}");
        (await app.Client(null).SendAsync(replay)).StatusCode.ShouldBe(HttpStatusCode.SeeOther);
    }

    [Fact]
    public async Task Every_page_forbids_inline_script_and_framing()
    {
        var visitor = await SignedIn(LedgerApp.Auditor);
        foreach (var path in new[] { "/console/sign-in", "/console/payments", "/console/metrics", "/console/operations" })
        {
            var answer = await visitor.GetAsync(path);
            answer.StatusCode.ShouldBe(HttpStatusCode.OK, path);
            var policy = answer.Headers.GetValues("Content-Security-Policy").Single();
            policy.ShouldContain("script-src 'self'");
            policy.ShouldContain("frame-ancestors 'none'");
            policy.ShouldNotContain("unsafe-inline");
            policy.ShouldNotContain("unsafe-eval");
            answer.Headers.GetValues("X-Content-Type-Options").Single().ShouldBe("nosniff");
            answer.Headers.CacheControl!.NoStore.ShouldBeTrue(path);
            visitor.LastBody.ShouldNotContain("<script>"); // only src= scripts and JSON data blocks
            visitor.LastBody.ShouldNotContain(" style=\"");
            visitor.LastBody.ShouldNotContain(" onclick=");
        }
    }

    [Fact]
    public async Task A_merchant_gets_404_for_another_merchants_payment_and_403_for_the_operations_page()
    {
        var globexPayment = (await (await app.Client(LedgerApp.Globex).Charge()).Json()).Str("id");
        var acme = await SignedIn(LedgerApp.Acme);

        (await acme.GetAsync($"/console/payments/{globexPayment}")).StatusCode.ShouldBe(HttpStatusCode.NotFound);
        acme.LastBody.ShouldContain("Payment not found.");
        (await acme.GetAsync($"/console/payments/{globexPayment}/receipt")).StatusCode.ShouldBe(HttpStatusCode.NotFound);
        (await acme.GetAsync($"/console/payments?q={globexPayment}")).StatusCode.ShouldBe(HttpStatusCode.NotFound);
        (await acme.GetAsync("/console/operations")).StatusCode.ShouldBe(HttpStatusCode.Forbidden);
        (await acme.GetAsync("/console/operations/log?after=0")).StatusCode.ShouldBe(HttpStatusCode.Forbidden);

        var auditor = await SignedIn(LedgerApp.Auditor);
        (await auditor.GetAsync($"/console/payments/{globexPayment}")).StatusCode.ShouldBe(HttpStatusCode.OK);
        auditor.LastBody.ShouldContain("<dt>Merchant</dt><dd>globex</dd>");
    }

    [Fact]
    public async Task The_amount_filter_is_exact_in_the_currencys_minor_units()
    {
        var order = $"amounts-{Guid.NewGuid():N}"[..20];
        var acme = app.Client(LedgerApp.Acme);
        foreach (var amount in new long[] { 1249, 1250, 1251 })
            (await acme.Charge(Requests.Charge(amount: amount, orderId: order))).StatusCode.ShouldBe(HttpStatusCode.Created);
        var visitor = await SignedIn(LedgerApp.Acme);

        (await visitor.GetAsync($"/console/payments?q={order}&currency=USD&min=12.50&max=12.5")).StatusCode.ShouldBe(HttpStatusCode.OK);

        visitor.LastBody.ShouldContain("$12.50");
        visitor.LastBody.ShouldNotContain("$12.49");
        visitor.LastBody.ShouldNotContain("$12.51");
    }

    [Theory]
    [InlineData("min=12.50", "min", "Pick a currency to filter by amount.")]
    [InlineData("currency=USD&min=12.505", "min", "An amount in USD with at most 2 decimals")]
    [InlineData("currency=JPY&max=5.5", "max", "An amount in JPY with at most 0 decimals")]
    [InlineData("from=07/12/2026", "from", "A date as YYYY-MM-DD.")]
    [InlineData("status=lost", "status", "Pick a status from the list.")]
    [InlineData("currency=usd", "currency", "Pick a currency from the list.")]
    public async Task A_malformed_filter_is_a_400_page_naming_the_field_that_lists_nothing(string query, string field, string message)
    {
        var visitor = await SignedIn(LedgerApp.Acme);

        (await visitor.GetAsync($"/console/payments?{query}")).StatusCode.ShouldBe(HttpStatusCode.BadRequest);

        visitor.LastBody.ShouldContain($"id=\"f-{field}-error\">{System.Net.WebUtility.HtmlEncode(message)}");
        visitor.LastBody.ShouldContain($"aria-invalid=\"true\" aria-describedby=\"f-{field}-error\"");
        visitor.LastBody.ShouldNotContain("<table class=\"payments\"");
    }

    [Fact]
    public async Task Searching_a_payment_id_opens_it_and_the_page_shows_its_timeline_and_its_past()
    {
        var acme = app.Client(LedgerApp.Acme);
        var id = (await (await acme.Charge(Requests.Charge(amount: 5000))).Json()).Str("id");
        (await acme.PostJson($"/v1/payments/{id}/refunds", new JsonObject { ["amount"] = 1500, ["reason"] = "duplicate" }, Requests.NewKey()))
            .StatusCode.ShouldBe(HttpStatusCode.Created);
        var visitor = await SignedIn(LedgerApp.Acme);

        var search = await visitor.GetAsync($"/console/payments?q={id}");
        search.StatusCode.ShouldBe(HttpStatusCode.Redirect);
        search.Headers.Location!.OriginalString.ShouldBe($"/console/payments/{id}");

        (await visitor.GetAsync($"/console/payments/{id}")).StatusCode.ShouldBe(HttpStatusCode.OK);
        var events = await (await app.Client(LedgerApp.Acme).GetAsync($"/v1/payments/{id}/events")).Json();
        foreach (var e in events.GetProperty("events").EnumerateArray())
        {
            visitor.LastBody.ShouldContain($"<code>{e.Str("type")}</code>");
            visitor.LastBody.ShouldContain($"title=\"{e.Str("hash")}\"");
        }
        visitor.LastBody.ShouldContain("badge-partially_refunded");
        visitor.LastBody.ShouldContain("<td>duplicate</td>");
        visitor.LastBody.ShouldContain($"<a href=\"/console/payments/{id}/receipt\">");

        (await visitor.GetAsync($"/console/payments/{id}?asOf=2")).StatusCode.ShouldBe(HttpStatusCode.OK);
        visitor.LastBody.ShouldContain("As of event 2 of 3");
        visitor.LastBody.ShouldContain("badge-succeeded");
        visitor.LastBody.ShouldContain("No refunds.");
        (await visitor.GetAsync($"/console/payments/{id}?asOf=4")).StatusCode.ShouldBe(HttpStatusCode.BadRequest);
        (await visitor.GetAsync($"/console/payments/{id}?asOf=first")).StatusCode.ShouldBe(HttpStatusCode.BadRequest);
    }

    [Fact]
    public async Task The_receipt_page_keeps_the_policy_allowing_only_its_own_style_block()
    {
        var id = (await (await app.Client(LedgerApp.Acme).Charge()).Json()).Str("id");
        var visitor = await SignedIn(LedgerApp.Acme);

        var answer = await visitor.GetAsync($"/console/payments/{id}/receipt");

        answer.StatusCode.ShouldBe(HttpStatusCode.OK);
        var policy = answer.Headers.GetValues("Content-Security-Policy").Single();
        var style = visitor.LastBody[(visitor.LastBody.IndexOf("<style>", StringComparison.Ordinal) + 7)..visitor.LastBody.IndexOf("</style>", StringComparison.Ordinal)];
        policy.ShouldContain($"style-src 'sha256-{Convert.ToBase64String(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(style)))}'");
        policy.ShouldNotContain("unsafe-inline");
    }

    [Fact]
    public async Task Unknown_console_paths_and_assets_are_404_pages()
    {
        var visitor = await SignedIn(LedgerApp.Acme);
        (await visitor.GetAsync("/console/nothing-here")).StatusCode.ShouldBe(HttpStatusCode.NotFound);
        visitor.LastBody.ShouldContain("There is no console page at this address.");
        (await visitor.GetAsync("/console/assets/../../appsettings.json")).StatusCode.ShouldBe(HttpStatusCode.NotFound);
        (await visitor.GetAsync("/console/assets/console.js")).StatusCode.ShouldBe(HttpStatusCode.OK);
        (await visitor.GetAsync("/console/assets/chart.umd.min.js")).Content.Headers.ContentType!.MediaType.ShouldBe("text/javascript");
    }

    [Fact]
    public async Task Every_page_names_its_icon_and_every_asset_it_names_is_served()
    {
        // Without a declared icon the browser asks for /favicon.ico, and that 404 lands in the browser's console.
        var visitor = await SignedIn(LedgerApp.Acme);
        (await visitor.GetAsync("/console/metrics")).StatusCode.ShouldBe(HttpStatusCode.OK);
        visitor.LastBody.ShouldContain("""<link rel="icon" href="/console/assets/favicon.svg" type="image/svg+xml">""");
        var assets = System.Text.RegularExpressions.Regex.Matches(visitor.LastBody, "(?:href|src)=\"(/console/assets/[^\"]+)\"")
            .Select(m => m.Groups[1].Value).ToList();
        assets.Count.ShouldBe(4); // stylesheet, icon, Chart.js, console.js
        foreach (var asset in assets)
            (await visitor.GetAsync(asset)).StatusCode.ShouldBe(HttpStatusCode.OK, asset);
        (await visitor.GetAsync("/console/assets/favicon.svg")).Content.Headers.ContentType!.MediaType.ShouldBe("image/svg+xml");
    }
}

public sealed class ShortConsoleSessionsApp : LedgerApp
{
    protected override IEnumerable<KeyValuePair<string, string>> Settings => [new("Ledger:Console:IdleTimeout", "00:00:01")];
}

public sealed class ConsoleSessionExpirySpecs(ShortConsoleSessionsApp app) : IClassFixture<ShortConsoleSessionsApp>
{
    [Fact]
    public async Task A_session_in_use_outlives_the_idle_timeout_and_one_left_idle_past_it_is_over()
    {
        var visitor = new ConsoleVisitor(app.Client(null));
        (await visitor.SignInAsync(LedgerApp.Acme)).StatusCode.ShouldBe(HttpStatusCode.SeeOther);

        // In use: a page every 200 ms for three idle timeouts.
        var until = DateTime.UtcNow.AddSeconds(3);
        while (DateTime.UtcNow < until)
        {
            (await visitor.GetAsync("/console/payments")).StatusCode.ShouldBe(HttpStatusCode.OK);
            await Task.Delay(200);
        }
        // Left alone (watched in the table, not by visits, which would keep it alive) until it is idle past the timeout.
        await app.Database.WaitUntil("select bool_and(last_seen_at < now() - interval '1.2 seconds') from console_sessions");

        (await visitor.GetAsync("/console/payments")).StatusCode.ShouldBe(HttpStatusCode.SeeOther);
        visitor.Cookie("ledger_console").ShouldBeNull(); // the dead cookie is dropped
    }
}

/// <summary>The session store on its own, against the fixture's database: what a configuration change does to sessions.</summary>
public sealed class ConsoleSessionKeySpecs(LedgerApp app) : IClassFixture<LedgerApp>
{
    private sealed class Keys(ApiKeyOptions value) : Microsoft.Extensions.Options.IOptionsMonitor<ApiKeyOptions>
    {
        public ApiKeyOptions CurrentValue { get; set; } = value;
        public ApiKeyOptions Get(string? name) => CurrentValue;
        public IDisposable? OnChange(Action<ApiKeyOptions, string?> listener) => null;
    }

    [Fact]
    public async Task A_session_ends_when_its_key_is_removed_from_the_configuration_and_follows_the_keys_role_as_configured()
    {
        var acme = new ApiKey { Key = "sk_live_acme_rotating", Role = "merchant", MerchantId = "acme" };
        var other = new ApiKey { Key = "sk_live_acme_other_01", Role = "merchant", MerchantId = "acme" };
        var keys = new Keys(new ApiKeyOptions { ApiKeys = [acme, other] });
        var ring = new ApiKeyRing(keys, Microsoft.Extensions.Logging.Abstractions.NullLogger<ApiKeyRing>.Instance);
        await using var db = app.Database.CreateDataSource();
        var sessions = new ConsoleSessions(db, ring, Microsoft.Extensions.Options.Options.Create(new ConsoleOptions()));
        var token = await sessions.StartAsync(acme, CancellationToken.None);

        var resumed = await sessions.ResumeAsync(token, "Console", CancellationToken.None);
        resumed.ShouldNotBeNull();
        resumed.MerchantId().ShouldBe("acme");

        // The merchant keeps another key; the one this session was opened with is rotated out.
        keys.CurrentValue = new ApiKeyOptions { ApiKeys = [other] };
        (await sessions.ResumeAsync(token, "Console", CancellationToken.None)).ShouldBeNull();
        // Back in, and now an auditor's key (same text): the session is what the key is now.
        keys.CurrentValue = new ApiKeyOptions { ApiKeys = [new ApiKey { Key = acme.Key, Role = "auditor" }] };
        (await sessions.ResumeAsync(token, "Console", CancellationToken.None))!.IsAuditor().ShouldBeTrue();
        (await sessions.ResumeAsync("not-a-token", "Console", CancellationToken.None)).ShouldBeNull();
    }
}
