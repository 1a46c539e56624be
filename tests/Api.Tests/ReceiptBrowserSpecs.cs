using System.Net;
using System.Net.Http.Headers;
using System.Text.Json.Nodes;
using Shouldly;
using Xunit;

namespace Ledger.Api.Tests;

/// <summary>
/// The HTML receipt in a real browser: Debian's chromium, headless, with every network request refused (the page
/// must need nothing from outside). It takes a screenshot (left in the test output folder) and prints the page to
/// PDF on A4 and on Letter; the printed text is what a customer sees, and it must fit one sheet.
/// </summary>
public sealed class ReceiptBrowserSpecs(LedgerApp app) : IClassFixture<LedgerApp>
{
    private static readonly string Output = Path.Combine(AppContext.BaseDirectory, "test-output", "receipts");

    [Theory]
    [InlineData("A4", "(A4)")]
    [InlineData("letter", "(letter)")]
    public async Task Chromium_renders_the_receipt_with_its_formatted_amounts_on_one_printed_sheet(string paper, string sizeName)
    {
        var acme = app.Client(LedgerApp.Acme);
        var payment = await (await acme.Charge(Requests.Charge(amount: 123456, currency: "USD", orderId: "order-2049"))).Json();
        var id = payment.Str("id");
        (await acme.PostJson($"/v1/payments/{id}/refunds", new JsonObject { ["amount"] = 2500 }, Requests.NewKey())).StatusCode.ShouldBe(HttpStatusCode.Created);
        var request = new HttpRequestMessage(HttpMethod.Get, $"/v1/payments/{id}/receipt");
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("text/html"));
        var html = await (await acme.SendAsync(request)).Content.ReadAsStringAsync();
        Directory.CreateDirectory(Output);
        var page = Path.Combine(Output, $"receipt-{paper}.html");
        // The paper a customer picks in the print dialog; the page itself sets only margins.
        await File.WriteAllTextAsync(page, html.Replace("</head>", $"<style>@page {{ size: {paper}; }}</style></head>", StringComparison.Ordinal));

        var screenshot = Path.Combine(Output, $"receipt-{paper}.png");
        var pdf = Path.Combine(Output, $"receipt-{paper}.pdf");
        await Chromium($"--screenshot={screenshot}", "--window-size=900,1100", new Uri(page).AbsoluteUri);
        await Chromium($"--print-to-pdf={pdf}", "--no-pdf-header-footer", new Uri(page).AbsoluteUri);

        new FileInfo(screenshot).Length.ShouldBeGreaterThan(10_000, "a screenshot with something on it");
        var text = await Run("pdftotext", ["-layout", pdf, "-"]);
        foreach (var visible in new[] { "Acme Coffee Roasters", "Partly refunded", "$1,234.56", "−$25.00", "$1,209.56", "order-2049", "Visa ending in 4242", "2 coffees" })
            text.ShouldContain(visible, customMessage: $"not visible when printed on {paper}:\n{text}");
        var info = await Run("pdfinfo", [pdf]);
        System.Text.RegularExpressions.Regex.IsMatch(info, @"Pages:\s+1\n").ShouldBeTrue(info);
        info.ShouldContain(sizeName, customMessage: info); // pdfinfo names the sheet: "594.96 x 841.92 pts (A4)"
        TestContext.Current.TestOutputHelper?.WriteLine($"receipt rendered by chromium: {screenshot}, {pdf}");
    }

    /// <summary>Headless Chromium with a profile of its own, deleted afterwards (each run left one in the temp directory).</summary>
    private static async Task Chromium(params string[] args)
    {
        var profile = Path.Combine(Path.GetTempPath(), $"ledger-chromium-{Guid.NewGuid():N}");
        try
        {
            await Run("chromium",
            [
                "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-extensions",
                "--host-resolver-rules=MAP * ~NOTFOUND", // nothing from the network: a self-contained page does not notice
                $"--user-data-dir={profile}", "--virtual-time-budget=5000", .. args,
            ]);
        }
        finally
        {
            if (Directory.Exists(profile)) Directory.Delete(profile, recursive: true);
        }
    }

    private static async Task<string> Run(string program, string[] args)
    {
        var run = await ChildProcess.RunAsync(program, args);
        run.Exit.ShouldBe(0, $"{program}: {run.Stderr}");
        return run.Stdout;
    }
}
