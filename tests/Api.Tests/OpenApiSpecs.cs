using System.Diagnostics;
using System.Net;
using System.Text.Json;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Shouldly;
using Xunit;

namespace Ledger.Api.Tests;

public sealed class OpenApiSpecs(LedgerApp app) : IClassFixture<LedgerApp>
{
    private async Task<JsonElement> Document()
    {
        var response = await app.Client(null).GetAsync("/openapi/v1.json");
        response.StatusCode.ShouldBe(HttpStatusCode.OK);
        return await response.Json();
    }

    [Fact]
    public async Task Every_mapped_route_is_in_the_document_with_its_responses()
    {
        var paths = (await Document()).GetProperty("paths");
        var routes = app.Services.GetRequiredService<EndpointDataSource>().Endpoints.OfType<RouteEndpoint>()
            .Where(e => e.RoutePattern.RawText is { } raw && !raw.StartsWith("/openapi", StringComparison.Ordinal))
            .SelectMany(e => (e.Metadata.GetMetadata<HttpMethodMetadata>()?.HttpMethods ?? []).Select(m => (Path: "/" + e.RoutePattern.RawText!.TrimStart('/'), Method: m.ToLowerInvariant())))
            .ToList();

        routes.Count.ShouldBeGreaterThanOrEqualTo(14); // health 2, payments 5, receipt, metrics, balances, auditing 3, /metrics
        foreach (var (path, method) in routes)
        {
            paths.TryGetProperty(path, out var item).ShouldBeTrue($"{path} is not documented");
            item.TryGetProperty(method, out var operation).ShouldBeTrue($"{method} {path} is not documented");
            operation.GetProperty("responses").EnumerateObject().Count().ShouldBeGreaterThan(0, $"{method} {path} documents no response");
            operation.Str("summary").ShouldNotBeNullOrWhiteSpace();
        }
    }

    [Fact]
    public async Task Writes_document_the_idempotency_headers_and_problem_answers()
    {
        var post = (await Document()).GetProperty("paths").GetProperty("/v1/payments").GetProperty("post");

        post.GetProperty("requestBody").GetProperty("content").GetProperty("application/json").GetProperty("schema").ValueKind.ShouldBe(JsonValueKind.Object);
        var header = post.GetProperty("parameters").EnumerateArray().Single(p => p.Str("name") == "Idempotency-Key");
        (header.Str("in"), header.GetProperty("required").GetBoolean()).ShouldBe(("header", true));
        var responses = post.GetProperty("responses");
        responses.GetProperty("201").GetProperty("headers").TryGetProperty("Idempotent-Replayed", out _).ShouldBeTrue();
        responses.GetProperty("409").GetProperty("headers").TryGetProperty("Retry-After", out _).ShouldBeTrue();
        foreach (var status in new[] { "400", "401", "403", "409", "413", "422" })
            responses.GetProperty(status).GetProperty("content").TryGetProperty("application/problem+json", out _).ShouldBeTrue(status);
    }

    [Fact]
    public async Task Amounts_are_documented_as_integers_only()
    {
        var schemas = (await Document()).GetProperty("components").GetProperty("schemas");
        schemas.GetProperty("PaymentResource").GetProperty("properties").GetProperty("amount").GetProperty("type").GetString().ShouldBe("integer");
    }

    [Fact]
    public async Task The_interactive_page_is_served_at_swagger()
    {
        var response = await app.Client(null).GetAsync("/swagger/index.html");
        response.StatusCode.ShouldBe(HttpStatusCode.OK);
        (await response.Content.ReadAsStringAsync()).ShouldContain("swagger-ui");
    }

    [Fact]
    public async Task The_document_lints_cleanly_with_spectral_and_the_repositorys_ruleset()
    {
        var file = Path.Combine(Path.GetTempPath(), $"ledger-openapi-{Guid.NewGuid():N}.json");
        await File.WriteAllTextAsync(file, (await Document()).GetRawText());
        var root = RepositoryRoot();
        var psi = new ProcessStartInfo("npx") { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = Path.GetTempPath() };
        foreach (var a in new[] { "--yes", "@stoplight/spectral-cli@6.16.3", "lint", file, "--ruleset", Path.Combine(root, ".spectral.yaml"), "--fail-severity", "warn" })
            psi.ArgumentList.Add(a);

        using var lint = Process.Start(psi)!;
        var output = lint.StandardOutput.ReadToEndAsync();
        var errors = lint.StandardError.ReadToEndAsync();
        using var deadline = new CancellationTokenSource(TimeSpan.FromMinutes(5));
        await lint.WaitForExitAsync(deadline.Token);

        lint.ExitCode.ShouldBe(0, $"{await output}\n{await errors}");
        File.Delete(file);
    }

    private static string RepositoryRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Ledger.sln"))) dir = dir.Parent;
        return dir?.FullName ?? throw new InvalidOperationException("Ledger.sln not found above the test binaries.");
    }
}
