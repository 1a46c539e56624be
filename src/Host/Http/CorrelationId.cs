namespace Ledger.Host.Http;

/// <summary>
/// One id per request, taken from X-Correlation-Id when the caller sends a sane one, else made up. It is in
/// every log line of the request (a logging scope), in the response header, and in the events' metadata.
/// </summary>
public static class CorrelationId
{
    public const string Header = "X-Correlation-Id";
    private static readonly object Key = new();

    public static string Of(HttpContext context) => context.Items[Key] as string ?? context.TraceIdentifier;

    public static IApplicationBuilder UseCorrelationIds(this IApplicationBuilder app) => app.Use(async (context, next) =>
    {
        var given = context.Request.Headers[Header].ToString();
        var id = given.Length is > 0 and <= 64 && given.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.')
            ? given
            : $"req_{Guid.NewGuid():N}";
        context.Items[Key] = id;
        context.Response.Headers[Header] = id;
        var logger = context.RequestServices.GetRequiredService<ILoggerFactory>().CreateLogger("Ledger.Http");
        using (logger.BeginScope(new Dictionary<string, object> { ["CorrelationId"] = id }))
            await next(context);
    });
}
