using System.Diagnostics;

namespace Ledger.Host.Http;

/// <summary>
/// One id per request: the request's W3C trace id (32 hex digits), which an incoming <c>traceparent</c> sets; or, when the
/// caller sends a sane X-Correlation-Id, that (v1 callers rely on it being echoed), tagged on the request's span so a
/// search by it finds the trace. It is in the response header, every log line of the request (a logging scope; Serilog
/// adds the trace id to each line itself), the events' metadata and the webhook deliveries the events make.
/// </summary>
public static class CorrelationId
{
    public const string Header = "X-Correlation-Id";
    public const string SpanTag = "ledger.correlation_id";
    private static readonly object Key = new();

    public static string Of(HttpContext context) => context.Items[Key] as string ?? context.TraceIdentifier;

    public static IApplicationBuilder UseCorrelationIds(this IApplicationBuilder app) => app.Use(async (context, next) =>
    {
        var given = context.Request.Headers[Header].ToString();
        var request = Activity.Current; // ASP.NET Core's request activity (it exists whether or not a tracer records it)
        string id;
        if (given.Length is > 0 and <= 64 && given.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.'))
        {
            id = given;
            request?.SetTag(SpanTag, id);
        }
        else
        {
            id = (request is { IdFormat: ActivityIdFormat.W3C } ? request.TraceId : ActivityTraceId.CreateRandom()).ToHexString();
        }
        context.Items[Key] = id;
        context.Response.Headers[Header] = id;
        var logger = context.RequestServices.GetRequiredService<ILoggerFactory>().CreateLogger("Ledger.Http");
        using (logger.BeginScope(new Dictionary<string, object> { ["CorrelationId"] = id }))
            await next(context);
    });
}
