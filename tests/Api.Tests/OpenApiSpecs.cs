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
            // The console's pages are for browsers, not API clients (docs/console.md), and say so.
            .Where(e => !e.RoutePattern.RawText!.StartsWith("/console", StringComparison.Ordinal))
            // gRPC's methods are documented by their .proto files (docs/grpc.md), not by OpenAPI.
            .Where(e => e.Metadata.GetMetadata<global::Grpc.AspNetCore.Server.GrpcMethodMetadata>() is null)
            .SelectMany(e => (e.Metadata.GetMetadata<HttpMethodMetadata>()?.HttpMethods ?? []).Select(m => (Path: "/" + e.RoutePattern.RawText!.TrimStart('/'), Method: m.ToLowerInvariant())))
            .ToList();

        routes.Count.ShouldBeGreaterThanOrEqualTo(14); // health 2, payments 5, receipt, metrics, balances, auditing 3, /metrics
        app.Services.GetRequiredService<EndpointDataSource>().Endpoints
            .Count(e => e.Metadata.GetMetadata<global::Grpc.AspNetCore.Server.GrpcMethodMetadata>() is not null).ShouldBeGreaterThanOrEqualTo(9); // the two services' methods
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
        var (exit, output) = await Lint("@stoplight/spectral-cli@6.16.3", "lint", "{file}", "--ruleset", Path.Combine(ChildProcess.RepositoryRoot(), ".spectral.yaml"), "--fail-severity", "warn");

        exit.ShouldBe(0, output);
        output.ShouldNotContain("warning");
    }

    [Fact]
    public async Task The_document_lints_cleanly_with_redoclys_recommended_rules()
    {
        var (exit, output) = await Lint("@redocly/cli@2.77.0", "lint", "{file}", "--extends=recommended", "--format=stylish");

        exit.ShouldBe(0, output);
        // A finding reads "line:col  warning  rule"; the banner about Node's support dates is not one.
        System.Text.RegularExpressions.Regex.IsMatch(output, @"\d+:\d+\s+(warning|error)").ShouldBeFalse(output);
    }

    [Fact]
    public async Task A_generated_client_sees_what_the_server_enforces_required_fields_ranges_enums_and_no_unknown_fields()
    {
        var document = await Document();
        var charge = document.GetProperty("paths").GetProperty("/v1/payments").GetProperty("post").GetProperty("requestBody")
            .GetProperty("content").GetProperty("application/json").GetProperty("schema");
        charge.GetProperty("required").EnumerateArray().Select(r => r.GetString()).ShouldBe(["amount", "currency", "orderId", "card"], ignoreOrder: true);
        charge.GetProperty("additionalProperties").GetBoolean().ShouldBeFalse();
        var properties = charge.GetProperty("properties");
        foreach (var required in new[] { "amount", "currency", "orderId", "card" })
            properties.GetProperty(required).GetProperty("type").ValueKind.ShouldBe(JsonValueKind.String, $"{required} is required: never null");
        (properties.GetProperty("amount").GetProperty("minimum").GetInt64(), properties.GetProperty("amount").GetProperty("maximum").GetInt64())
            .ShouldBe((1, 1_000_000_000_000));
        properties.GetProperty("currency").GetProperty("enum").EnumerateArray().Select(e => e.GetString()).ShouldContain("KWD");
        var card = properties.GetProperty("card");
        card.GetProperty("additionalProperties").GetBoolean().ShouldBeFalse();
        card.GetProperty("required").GetArrayLength().ShouldBe(4);
        card.GetProperty("properties").GetProperty("expMonth").GetProperty("maximum").GetInt32().ShouldBe(12);

        var schemas = document.GetProperty("components").GetProperty("schemas");
        schemas.GetProperty("PaymentResource").GetProperty("properties").GetProperty("status").GetProperty("enum").EnumerateArray()
            .Select(e => e.GetString()).ShouldBe(["pending", "succeeded", "failed", "partially_refunded", "refunded"]);
        schemas.GetProperty("RefundResource").GetProperty("properties").GetProperty("reason").GetProperty("enum").EnumerateArray()
            .Select(e => e.GetString()).ShouldContain("requested_by_customer");
    }

    [Fact]
    public async Task The_server_is_the_instance_the_document_was_loaded_from()
    {
        var servers = (await Document()).GetProperty("servers").EnumerateArray().Select(s => s.Str("url")).ToList();

        servers.ShouldBe([app.Client(null).BaseAddress!.GetLeftPart(UriPartial.Authority)]);
    }

    [Fact]
    public async Task Response_headers_clients_rely_on_are_documented()
    {
        var paths = (await Document()).GetProperty("paths");
        var charge = paths.GetProperty("/v1/payments").GetProperty("post").GetProperty("responses");
        Headers(charge, "201").ShouldContain("Location");
        Headers(charge, "201").ShouldContain("Idempotent-Replayed");
        Headers(charge, "401").ShouldContain("WWW-Authenticate");
        Headers(charge, "409").ShouldContain("Retry-After");
        Headers(charge, "429").ShouldContain("Retry-After");
        foreach (var path in paths.EnumerateObject())
        foreach (var operation in path.Value.EnumerateObject())
        foreach (var response in operation.Value.GetProperty("responses").EnumerateObject())
            if (!response.Value.Str("description").Contains("web server", StringComparison.Ordinal)) // Kestrel's own 400 comes before ours
                Headers(operation.Value.GetProperty("responses"), response.Name).ShouldContain("X-Correlation-Id", $"{operation.Name} {path.Name} {response.Name}");
        var receipt = paths.GetProperty("/v1/payments/{id}/receipt").GetProperty("get").GetProperty("responses").GetProperty("200").GetProperty("content");
        receipt.GetProperty("text/html").GetProperty("schema").Str("type").ShouldBe("string");
    }

    private static List<string> Headers(JsonElement responses, string status) =>
        responses.GetProperty(status).TryGetProperty("headers", out var headers) ? [.. headers.EnumerateObject().Select(h => h.Name)] : [];

    /// <summary>Runs a linter from the npm registry over the live document; {file} stands for the document's path.</summary>
    private async Task<(int Exit, string Output)> Lint(string package, params string[] args)
    {
        var file = Path.Combine(Path.GetTempPath(), $"ledger-openapi-{Guid.NewGuid():N}.json");
        // As `make run` serves it (the in-process test server calls itself localhost, which linters flag as a placeholder).
        using var request = new HttpRequestMessage(HttpMethod.Get, "/openapi/v1.json");
        request.Headers.Host = "127.0.0.1:5080";
        var served = await app.Client(null).SendAsync(request);
        served.StatusCode.ShouldBe(HttpStatusCode.OK);
        await File.WriteAllTextAsync(file, await served.Content.ReadAsStringAsync());
        var run = await ChildProcess.RunAsync("npx", ["--yes", package, .. args.Select(a => a.Replace("{file}", file, StringComparison.Ordinal))],
            new Dictionary<string, string?> { ["NO_COLOR"] = "1", ["REDOCLY_TELEMETRY"] = "off", ["REDOCLY_SUPPRESS_UPDATE_NOTICE"] = "true" },
            TimeSpan.FromMinutes(5), Path.GetTempPath());
        File.Delete(file);
        return (run.Exit, run.Output);
    }
}
