using Microsoft.AspNetCore.OpenApi;
using Microsoft.OpenApi;

namespace Ledger.Host.Http;

/// <summary>Marks a POST that takes an Idempotency-Key (documented as a required header).</summary>
public sealed class RequiresIdempotencyKey;

/// <summary>
/// The JSON body a handler reads itself. Documented through a transformer rather than Accepts&lt;T&gt;(), whose
/// content-type check runs during routing: before authentication, and without a problem+json answer.
/// </summary>
public sealed record DocumentedBody(Type Type);

/// <summary>An endpoint whose 201 carries a Location header (a charge; a refund's answer holds its payment instead).</summary>
public sealed class AnswersWithLocation;

/// <summary>An open endpoint (health, metrics) whose only client error is a request the web server itself refuses.</summary>
public sealed class MalformedRequests;

/// <summary>A query parameter a handler parses itself (strictly, for its own 400s), for the document.</summary>
public sealed record QueryParameter(string Name, string Description, JsonSchemaType Type = JsonSchemaType.String, string? Format = null);

/// <summary>GET /openapi/v1.json and the page at /swagger.</summary>
public static class OpenApiSetup
{
    public static IServiceCollection AddLedgerOpenApi(this IServiceCollection services) => services.AddHttpContextAccessor().AddOpenApi("v1", options =>
    {
        options.AddDocumentTransformer((document, context, _) =>
        {
            document.Info = new OpenApiInfo
            {
                Title = "Ledger",
                Version = "v1",
                Description = "An event-sourced payment ledger. Amounts are integers in minor units. Errors are RFC 9457 problem+json with a stable `code`.",
                Contact = new OpenApiContact { Name = "Ledger maintainers", Url = new Uri("https://github.com/ledger/ledger") },
                License = new OpenApiLicense { Name = "MIT", Identifier = "MIT" },
            };
            document.Tags = new HashSet<OpenApiTag>(Tags.Select(t => new OpenApiTag { Name = t.Name, Description = t.Description }));
            document.Components ??= new OpenApiComponents();
            document.Components.SecuritySchemes ??= new Dictionary<string, IOpenApiSecurityScheme>();
            document.Components.SecuritySchemes["bearer"] = new OpenApiSecurityScheme
            {
                Type = SecuritySchemeType.Http, Scheme = "bearer", Description = "An API key: `Authorization: Bearer sk_test_acme`.",
            };
            document.Security = [new OpenApiSecurityRequirement { [new OpenApiSecuritySchemeReference("bearer", document)] = [] }];
            // The server is the one the document was fetched from, so "Try it out" and generated clients call the
            // instance they loaded it from (behind a proxy: the Host header the proxy forwards).
            var request = context.ApplicationServices.GetRequiredService<IHttpContextAccessor>().HttpContext?.Request;
            document.Servers = request is null ? [] : [new OpenApiServer { Url = $"{request.Scheme}://{request.Host}{request.PathBase}", Description = "this instance" }];
            return Task.CompletedTask;
        });
        options.AddSchemaTransformer(OpenApiSchemas.Describe);
        options.AddOperationTransformer(async (operation, context, ct) =>
        {
            var metadata = context.Description.ActionDescriptor.EndpointMetadata;
            if (metadata.OfType<DocumentedBody>().FirstOrDefault() is { } body)
                operation.RequestBody = new OpenApiRequestBody
                {
                    Required = true,
                    Content = new Dictionary<string, OpenApiMediaType>
                    {
                        ["application/json"] = new() { Schema = await context.GetOrCreateSchemaAsync(body.Type, null, ct) },
                    },
                };
            operation.Parameters ??= [];
            if (metadata.OfType<RequiresIdempotencyKey>().Any())
            {
                operation.Parameters.Add(new OpenApiParameter
                {
                    Name = Idempotency.Header, In = ParameterLocation.Header, Required = true,
                    Description = "1-255 printable ASCII characters (or an RFC 8941 quoted string). A retry with the same key and body replays the first answer.",
                    Schema = new OpenApiSchema { Type = JsonSchemaType.String, MinLength = 1, MaxLength = 255 },
                });
                foreach (var (status, response) in operation.Responses ?? [])
                {
                    if (response is not OpenApiResponse r) continue;
                    r.Headers ??= new Dictionary<string, IOpenApiHeader>();
                    if (status.StartsWith('2') || status is "409" or "422")
                        r.Headers[Idempotency.ReplayedHeader] = Header("`true` when this is the stored answer to an earlier request with the same key.");
                    if (status == "409")
                        r.Headers["Retry-After"] = Header("Seconds to wait before retrying (idempotency_key_in_use, concurrency_conflict).", JsonSchemaType.Integer);
                }
            }
            foreach (var q in metadata.OfType<QueryParameter>())
                operation.Parameters.Add(new OpenApiParameter
                {
                    Name = q.Name, In = ParameterLocation.Query, Description = q.Description,
                    Schema = new OpenApiSchema { Type = q.Type, Format = q.Format },
                });
            foreach (var (status, response) in operation.Responses ?? [])
            {
                if (response is not OpenApiResponse r) continue;
                r.Headers ??= new Dictionary<string, IOpenApiHeader>();
                r.Headers[CorrelationId.Header] = Header("The request's correlation id: yours if you sent a valid X-Correlation-Id, else the request's W3C trace id (32 hex digits; your traceparent's, if you sent one). In every log line, event and webhook delivery of the request.");
                if (status is "429" or "503") // a 409's Retry-After is documented with the idempotency headers above
                    r.Headers["Retry-After"] = Header("Seconds to wait before retrying.", JsonSchemaType.Integer);
                if (status == "401")
                    r.Headers["WWW-Authenticate"] = Header("`Bearer`: send an API key as `Authorization: Bearer <key>`.");
                if (status == "201" && metadata.OfType<AnswersWithLocation>().Any())
                    r.Headers["Location"] = Header("The created payment's path.");
                if (r.Content is { } content && content.TryGetValue("text/html", out var html))
                    html.Schema = new OpenApiSchema { Type = JsonSchemaType.String, Description = "A self-contained, printable HTML page." };
            }
            if (metadata.OfType<MalformedRequests>().Any() && operation.Responses is { } all && !all.ContainsKey("400"))
                all["400"] = new OpenApiResponse { Description = "A malformed request line or headers, answered by the web server before Ledger runs (no body)." };
        });
    });

    private static readonly (string Name, string Description)[] Tags =
    [
        ("Payments", "Charge a card, read payments and list them. Every write takes an Idempotency-Key."),
        ("Refunds", "Refund a payment in part or in full, and list its refunds."),
        ("Receipts", "A succeeded payment's receipt, as JSON or as a printable HTML page."),
        ("Reporting", "Business metrics per currency and day, and the double-entry books."),
        ("Webhooks", "A merchant's webhook endpoints: signed deliveries of its payment events, with every attempt listed and dead ones sent again."),
        ("Auditing", "A payment's events, its state as of any version or moment, and the global event log."),
        ("Operations", "Liveness, readiness and the Prometheus scrape endpoint."),
    ];

    private static OpenApiHeader Header(string description, JsonSchemaType type = JsonSchemaType.String) =>
        new() { Description = description, Schema = new OpenApiSchema { Type = type } };

    public static void MapLedgerOpenApi(this WebApplication app)
    {
        app.MapOpenApi("/openapi/{documentName}.json");
        app.UseSwaggerUI(ui =>
        {
            ui.SwaggerEndpoint("/openapi/v1.json", "Ledger v1");
            ui.RoutePrefix = "swagger";
            ui.DocumentTitle = "Ledger API";
        });
    }

    /// <summary>The problem answers every authenticated endpoint can give.</summary>
    public static RouteHandlerBuilder Problems(this RouteHandlerBuilder endpoint, params int[] statuses)
    {
        foreach (var status in statuses.Concat([401, 429, 503]).Distinct())
            endpoint.Produces<ProblemBody>(status, Http.Problems.ContentType);
        return endpoint;
    }
}
