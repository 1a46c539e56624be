using Serilog.AspNetCore;
using Serilog.Events;

namespace Ledger.Host.Http;

/// <summary>
/// One log line per request (Serilog.AspNetCore): method, path, status and time, with the correlation id the
/// request's log scope carries. The path is the client's text, so it is logged the way field names are echoed in
/// errors (<see cref="Redaction"/>). Never the query string, never a header.
/// </summary>
public static class RequestLog
{
    public static void Configure(RequestLoggingOptions options, Serilog.ILogger logger)
    {
        options.Logger = logger; // the host's own, not the process-wide static one
        options.MessageTemplate = "HTTP {RequestMethod:l} {RequestPath:l} responded {StatusCode} in {Elapsed:0.0} ms";
        options.GetMessageTemplateProperties = (http, path, elapsed, status) =>
        [
            new LogEventProperty("RequestMethod", new ScalarValue(http.Request.Method)),
            new LogEventProperty("RequestPath", new ScalarValue(Redaction.Shown(path))),
            new LogEventProperty("StatusCode", new ScalarValue(status)),
            new LogEventProperty("Elapsed", new ScalarValue(elapsed)),
        ];
        // A 500 is a bug: Error. A 503 is the database being away: Warning. Probes and scrapes come every few
        // seconds: Debug, unless they fail.
        options.GetLevel = (http, _, error) => error is not null || http.Response.StatusCode is >= 500 and not 503
            ? LogEventLevel.Error
            : http.Response.StatusCode == 503
                ? LogEventLevel.Warning
                : http.Request.Path.StartsWithSegments("/health") || http.Request.Path.StartsWithSegments("/metrics")
                    ? LogEventLevel.Debug
                    : LogEventLevel.Information;
    }
}
