using System.Text.Json;
using Ledger.Testing;
using Microsoft.Playwright;
using Xunit;

namespace Ledger.Api.Tests;

/// <summary>
/// The console in a real browser: the Ledger.Host executable on a loopback port with its own database, and Debian's
/// Chromium driven by Playwright (Microsoft.Playwright; its own browser download is not used). Each page a spec opens
/// records the browser's console errors, which include every Content-Security-Policy violation; axe-core (npm) checks
/// accessibility. Screenshots go to test-output/console.
/// </summary>
public sealed class ConsoleBrowser : IAsyncLifetime
{
    public const string AxeVersion = "4.14.1";
    public const string Initech = "sk_test_initech";
    public static readonly string Output = Path.Combine(AppContext.BaseDirectory, "test-output", "console");

    private readonly TestDatabase _db = new();
    private readonly string _dir = Directory.CreateTempSubdirectory("ledger-console-").FullName;
    private IPlaywright _playwright = null!;
    private IBrowser _browser = null!;
    private string? _axe;

    public HostProcess Host { get; private set; } = null!;

    public async ValueTask InitializeAsync()
    {
        await _db.InitializeAsync();
        // Checkpoints signed every second and webhooks retried fast, so the operations page has both to show.
        var key = Path.Combine(_dir, "key.pem");
        using (var signing = Ledger.EventStore.Audit.CheckpointKey.Generate()) await File.WriteAllTextAsync(key, signing.PrivateKeyPem);
        Host = new HostProcess(_db.ConnectionString, HostProcess.FastRecovery(
        [
            ("Ledger:Audit:CheckpointEvery", "00:00:01"), ("Ledger:Audit:SigningKeyFile", key), ("Ledger:Audit:CheckpointFile", Path.Combine(_dir, "checkpoints.jsonl")),
            .. WebhookSettings.Fast.Select(s => (s.Key, s.Value)),
            // A merchant of the metrics spec's alone, so its totals are its own whatever ran before it.
            ("Ledger:ApiKeys:3:Key", Initech), ("Ledger:ApiKeys:3:Role", "merchant"), ("Ledger:ApiKeys:3:MerchantId", "initech"),
        ]));
        await Host.StartAsync();
        _playwright = await Playwright.CreateAsync();
        _browser = await _playwright.Chromium.LaunchAsync(new()
        {
            ExecutablePath = "/usr/bin/chromium",
            Headless = true,
            Args = ["--no-sandbox", "--disable-gpu", "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"],
        });
        Directory.CreateDirectory(Output);
    }

    /// <summary>A new browser context (no cookies) and page, optionally signed in with <paramref name="key"/> through the form.</summary>
    public async Task<ConsolePage> OpenAsync(string? key = null)
    {
        var context = await _browser.NewContextAsync(new() { BaseURL = Host.Url.ToString(), ViewportSize = new() { Width = 1280, Height = 900 } });
        var page = new ConsolePage(await context.NewPageAsync());
        if (key is not null) await page.SignInAsync(key);
        return page;
    }

    /// <summary>axe-core's violations of impact serious or critical on the page as it is now, one line each.</summary>
    public async Task<IReadOnlyList<string>> SeriousAccessibilityViolations(IPage page)
    {
        _axe ??= await File.ReadAllTextAsync(await AxeScript());
        await page.EvaluateAsync(_axe); // evaluated by the driver, not injected as inline script: the page's policy stays as served
        var result = await page.EvaluateAsync<JsonElement>("async () => (await axe.run(document, { resultTypes: ['violations'] })).violations");
        return result.EnumerateArray()
            .Where(v => v.GetProperty("impact").GetString() is "serious" or "critical")
            .Select(v => $"{v.GetProperty("impact").GetString()} {v.GetProperty("id").GetString()}: {v.GetProperty("help").GetString()} " +
                         string.Join(" | ", v.GetProperty("nodes").EnumerateArray().Take(3).Select(n => n.GetProperty("html").GetString())))
            .ToList();
    }

    /// <summary>axe.min.js from npm, installed once under .data/npm (scripts/browser.sh does the same for `make test`).</summary>
    private static async Task<string> AxeScript()
    {
        var prefix = Path.Combine(ChildProcess.RepositoryRoot(), ".data", "npm");
        var script = Path.Combine(prefix, "node_modules", "axe-core", "axe.min.js");
        if (!File.Exists(script))
        {
            var run = await ChildProcess.RunAsync("npm", ["install", "--prefix", prefix, "--no-save", "--no-audit", "--no-fund", $"axe-core@{AxeVersion}"],
                null, TimeSpan.FromMinutes(3), Path.GetTempPath());
            if (run.Exit != 0 || !File.Exists(script)) throw new InvalidOperationException($"npm could not install axe-core: {run.Output}");
        }
        return script;
    }

    public async ValueTask DisposeAsync()
    {
        if (_browser is not null) await _browser.DisposeAsync();
        _playwright?.Dispose();
        if (Host is not null) await Host.DisposeAsync();
        await _db.DisposeAsync();
        Directory.Delete(_dir, recursive: true);
    }
}

/// <summary>A console page in the browser, with what the browser complained about while showing it.</summary>
public sealed class ConsolePage
{
    public ConsolePage(IPage page)
    {
        Page = page;
        // A failed load's message names no address; its location does, so a failure says which resource it was.
        page.Console += (_, message) => { if (message.Type == "error") Errors.Add($"{message.Text} [{message.Location}]"); };
        page.PageError += (_, error) => Errors.Add(error);
    }

    public IPage Page { get; }

    /// <summary>Script errors and policy violations ("Refused to ..."): a page that works as written has none.</summary>
    public List<string> Errors { get; } = [];

    public async Task SignInAsync(string key)
    {
        await Page.GotoAsync("/console/sign-in");
        await Page.GetByLabel("API key").FillAsync(key);
        await Page.GetByRole(AriaRole.Button, new() { Name = "Sign in" }).ClickAsync();
        await Page.WaitForURLAsync("**/console/payments");
    }

    public Task ScreenshotAsync(string name) =>
        Page.ScreenshotAsync(new() { Path = Path.Combine(ConsoleBrowser.Output, $"{name}.png"), FullPage = true });
}
