using System.Net;
using System.Text.Json.Nodes;
using Microsoft.Playwright;
using Shouldly;
using Xunit;
using static Microsoft.Playwright.Assertions;

namespace Ledger.Api.Tests;

/// <summary>
/// What merchants, auditors and operators do in the console, in Chromium against a real host and PostgreSQL. Every
/// spec ends by checking that the browser reported no script error and no policy violation on the way.
/// </summary>
public sealed class ConsoleBrowserSpecs(ConsoleBrowser browser) : IClassFixture<ConsoleBrowser>
{
    private static string Order() => $"order-{Guid.NewGuid():N}"[..18];

    private async Task<string> Charge(string key, long amount = 5000, string order = "order-1", string card = Requests.GoodCard)
    {
        var answer = await browser.Host.Client(key).Charge(Requests.Charge(amount: amount, orderId: order, card: card));
        return (await answer.Json()).Str("id");
    }

    private async Task Refund(string id, long amount, string reason)
    {
        var answer = await browser.Host.Client(LedgerApp.Acme).PostJson($"/v1/payments/{id}/refunds",
            new JsonObject { ["amount"] = amount, ["reason"] = reason }, Requests.NewKey());
        answer.StatusCode.ShouldBe(HttpStatusCode.Created);
    }

    [Fact]
    public async Task A_merchant_signs_in_finds_a_payment_by_its_order_and_travels_back_through_its_timeline()
    {
        var order = Order();
        var id = await Charge(LedgerApp.Acme, 5000, order);
        await Refund(id, 1500, "duplicate");
        var console = await browser.OpenAsync(LedgerApp.Acme);
        var page = console.Page;

        await page.GetByLabel("Payment id or order id").FillAsync(order);
        await page.GetByRole(AriaRole.Button, new() { Name = "Search" }).ClickAsync();
        await Expect(page.Locator("table.payments tbody tr")).ToHaveCountAsync(1);
        await page.GetByRole(AriaRole.Link, new() { Name = id }).ClickAsync();

        await Expect(page.GetByRole(AriaRole.Heading, new() { Level = 1 })).ToContainTextAsync("$50.00");
        await Expect(page.Locator("h1 .badge")).ToHaveTextAsync("partially refunded");
        await Expect(page.Locator("table.refunds")).ToContainTextAsync("duplicate");
        var timeline = page.Locator("table.timeline tbody tr");
        await Expect(timeline).ToHaveCountAsync(3);
        await Expect(timeline.Nth(0)).ToContainTextAsync("payment_requested");
        await Expect(timeline.Nth(2)).ToContainTextAsync("payment_refunded");
        await Expect(timeline.Nth(0)).ToContainTextAsync("merchant:acme");
        await console.ScreenshotAsync("payment-timeline");

        await page.GetByRole(AriaRole.Link, new() { Name = "as of version 2" }).ClickAsync();

        await Expect(page.GetByRole(AriaRole.Status)).ToContainTextAsync("As of event 2 of 3");
        await Expect(page.Locator("h1 .badge")).ToHaveTextAsync("succeeded");
        await Expect(page.Locator("#refunds + p")).ToHaveTextAsync("No refunds.");
        await console.ScreenshotAsync("payment-as-of-version-2");
        console.Errors.ShouldBeEmpty();
    }

    [Fact]
    public async Task A_refund_made_through_the_API_appears_on_the_payment_page()
    {
        var id = await Charge(LedgerApp.Acme, 2000, Order());
        var console = await browser.OpenAsync(LedgerApp.Acme);
        await console.Page.GotoAsync($"/console/payments/{id}");
        await Expect(console.Page.Locator("#refunds + p")).ToHaveTextAsync("No refunds.");

        await Refund(id, 2000, "requested_by_customer");
        await console.Page.ReloadAsync();

        await Expect(console.Page.Locator("table.refunds")).ToContainTextAsync("requested by customer");
        await Expect(console.Page.Locator("table.refunds")).ToContainTextAsync("$20.00");
        await Expect(console.Page.Locator("h1 .badge")).ToHaveTextAsync("refunded");
        await console.ScreenshotAsync("refund-appeared");
        console.Errors.ShouldBeEmpty();
    }

    [Fact]
    public async Task A_merchant_is_refused_another_merchants_payment_and_the_operations_page()
    {
        var globex = await Charge(LedgerApp.Globex, 700, Order());
        var console = await browser.OpenAsync(LedgerApp.Acme);

        var answer = await console.Page.GotoAsync($"/console/payments/{globex}");
        answer!.Status.ShouldBe(404);
        await Expect(console.Page.GetByRole(AriaRole.Heading, new() { Level = 1 })).ToHaveTextAsync("Payment not found.");
        await console.ScreenshotAsync("merchant-refused");
        (await console.Page.GotoAsync("/console/operations"))!.Status.ShouldBe(403);
        await Expect(console.Page.GetByRole(AriaRole.Navigation, new() { Name = "Console" })).Not.ToContainTextAsync("Operations");
        // The 404 and 403 pages are the only "errors" the browser logs: failed loads of the main document.
        console.Errors.ShouldAllBe(e => e.StartsWith("Failed to load resource", StringComparison.Ordinal)
            && (e.Contains($"/console/payments/{globex}", StringComparison.Ordinal) || e.Contains("/console/operations", StringComparison.Ordinal)));
    }

    [Fact]
    public async Task The_metrics_page_draws_its_charts_from_the_merchants_numbers()
    {
        await Charge(ConsoleBrowser.Initech, 1234, Order());
        await Charge(ConsoleBrowser.Initech, 999, Order(), card: "4000000000000002"); // declined: a failure by code
        var console = await browser.OpenAsync(ConsoleBrowser.Initech);

        await console.Page.GotoAsync("/console/metrics");

        await Expect(console.Page.Locator("canvas[data-drawn=true]")).ToHaveCountAsync(4);
        foreach (var canvas in await console.Page.Locator("canvas[data-chart]").AllAsync())
        {
            var painted = await canvas.EvaluateAsync<int>("""
                c => { const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
                       let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i] !== 0) n++; return n; }
                """);
            painted.ShouldBeGreaterThan(500, $"{await canvas.GetAttributeAsync("data-chart")} chart is blank");
        }
        await Expect(console.Page.Locator("dl.totals")).ToContainTextAsync("$12.34");
        await Expect(console.Page.Locator("details table").Last).ToContainTextAsync("card_declined");
        await console.ScreenshotAsync("metrics");
        console.Errors.ShouldBeEmpty();
    }

    [Fact]
    public async Task The_auditor_sees_failing_webhooks_the_latest_checkpoint_and_a_new_payment_arrive_in_the_live_tail()
    {
        // A merchant whose webhook endpoint is down: nothing listens on that port.
        var endpoint = await browser.Host.Client(LedgerApp.Globex).PostJson("/v1/webhook-endpoints", new JsonObject
        {
            ["url"] = $"http://127.0.0.1:{HostProcess.FreePort()}/hooks", ["events"] = new JsonArray("payment.succeeded"),
        });
        endpoint.StatusCode.ShouldBe(HttpStatusCode.Created);
        var failing = await Charge(LedgerApp.Globex, 100, Order());
        var console = await browser.OpenAsync(LedgerApp.Auditor);
        var page = console.Page;
        // The dispatcher's first attempt and the checkpoint agent's first signature come within seconds: look again until then.
        await Waiting.Until(async () =>
        {
            await page.GotoAsync("/console/operations");
            return await page.Locator($"#webhooks ~ table a:text-is('{failing}')").CountAsync() > 0
                && await page.Locator("#checkpoint ~ dl.facts").CountAsync() > 0;
        }, TimeSpan.FromSeconds(30), "a failing delivery and a signed checkpoint on the operations page");

        await Expect(page.Locator("#webhooks ~ table tbody tr").Filter(new() { HasText = failing })).ToContainTextAsync("failing");
        await Expect(page.Locator("#webhooks ~ table tbody tr").Filter(new() { HasText = failing })).ToContainTextAsync("no answer");
        await Expect(page.Locator("#checkpoint ~ dl.facts")).ToContainTextAsync("Signed");
        await Expect(page.Locator("#checkpoint ~ dl.facts code.hash")).ToHaveTextAsync(new System.Text.RegularExpressions.Regex("^[0-9a-f]{64}$"));
        await Expect(page.Locator("#projections ~ table tbody tr")).ToHaveCountAsync(4);

        var id = await Charge(LedgerApp.Acme, 4321, Order());

        await Expect(page.Locator("#log-tail tbody tr").First).ToContainTextAsync(id, new() { Timeout = 15_000 });
        await Expect(page.Locator("#log-tail tbody")).ToContainTextAsync("payment_charged");
        await console.ScreenshotAsync("operations");
        console.Errors.ShouldBeEmpty();
    }

    [Fact]
    public async Task Signing_out_ends_the_session_and_pages_send_the_browser_back_to_sign_in()
    {
        var console = await browser.OpenAsync(LedgerApp.Acme);
        var cookie = (await console.Page.Context.CookiesAsync()).Single(c => c.Name == "ledger_console");
        cookie.HttpOnly.ShouldBeTrue();
        cookie.SameSite.ShouldBe(SameSiteAttribute.Strict);
        (await console.Page.EvaluateAsync<string>("document.cookie")).ShouldNotContain("ledger_console"); // no script can read it

        await console.Page.GetByRole(AriaRole.Button, new() { Name = "Sign out" }).ClickAsync();
        await console.Page.WaitForURLAsync("**/console/sign-in");
        await console.Page.GotoAsync("/console/payments/");

        console.Page.Url.ShouldContain("/console/sign-in?next=");
        await Expect(console.Page.GetByLabel("API key")).ToBeVisibleAsync();
        await console.ScreenshotAsync("signed-out");
        console.Errors.ShouldBeEmpty();
    }

    [Fact]
    public async Task The_keyboard_alone_signs_in_searches_and_opens_a_payment()
    {
        var order = Order();
        var id = await Charge(LedgerApp.Acme, 800, order);
        var console = await browser.OpenAsync();
        var page = console.Page;
        await page.GotoAsync("/console/sign-in");

        await Expect(page.GetByLabel("API key")).ToBeFocusedAsync(); // autofocus: the first thing typed is the key
        await page.Keyboard.TypeAsync(LedgerApp.Acme);
        await Expect(page.GetByLabel("API key")).ToHaveValueAsync(LedgerApp.Acme);
        await page.Keyboard.PressAsync("Enter");
        try
        {
            await Expect(page).ToHaveURLAsync(new System.Text.RegularExpressions.Regex("/console/payments$"));
        }
        catch (PlaywrightException)
        {
            throw new ShouldAssertException($"signing in by keyboard ended on {page.Url}: {await page.Locator("main").InnerTextAsync()}");
        }
        await TabTo(page, "f-q");
        await page.Keyboard.TypeAsync(order);
        await page.Keyboard.PressAsync("Enter");
        await Expect(page.Locator("table.payments tbody tr")).ToHaveCountAsync(1);
        await TabTo(page, null, $"/console/payments/{id}");
        await page.Keyboard.PressAsync("Enter");

        await page.WaitForURLAsync($"**/console/payments/{id}");
        await Expect(page.GetByRole(AriaRole.Heading, new() { Level = 1 })).ToContainTextAsync(order);
        await console.ScreenshotAsync("keyboard-payment");
        console.Errors.ShouldBeEmpty();
    }

    /// <summary>Presses Tab until the element with this id (or the link to this address) has focus, at most 40 times.</summary>
    private static async Task TabTo(IPage page, string? id, string? href = null)
    {
        for (var i = 0; i < 40; i++)
        {
            await page.Keyboard.PressAsync("Tab");
            var focused = await page.EvaluateAsync<string>("() => (document.activeElement.id || '') + '|' + (document.activeElement.getAttribute('href') || '')");
            if ((id is not null && focused.StartsWith(id + "|", StringComparison.Ordinal)) || (href is not null && focused.EndsWith("|" + href, StringComparison.Ordinal))) return;
        }
        throw new ShouldAssertException($"Tab never reached {id ?? href}");
    }

    [Fact]
    public async Task Every_page_passes_axe_with_no_serious_or_critical_violation()
    {
        var id = await Charge(LedgerApp.Acme, 2500, Order());
        await Refund(id, 500, "duplicate");
        var merchant = await browser.OpenAsync();
        var auditor = await browser.OpenAsync(LedgerApp.Auditor);
        var pages = new (ConsolePage Console, string Path)[]
        {
            (merchant, "/console/sign-in"), (auditor, "/console/payments"), (auditor, $"/console/payments/{id}"),
            (auditor, $"/console/payments/{id}?asOf=1"), (auditor, "/console/payments?status=nothing"),
            (auditor, "/console/metrics"), (auditor, "/console/operations"),
        };
        var found = new List<string>();
        foreach (var (console, path) in pages)
        {
            await console.Page.GotoAsync(path);
            found.AddRange((await browser.SeriousAccessibilityViolations(console.Page)).Select(v => $"{path}: {v}"));
        }
        found.ShouldBeEmpty(string.Join('\n', found));
        await merchant.ScreenshotAsync("sign-in");
        await auditor.Page.GotoAsync("/console/payments");
        await auditor.ScreenshotAsync("payments");
    }
}
