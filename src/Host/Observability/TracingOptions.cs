using System.Globalization;
using Microsoft.Extensions.Options;

namespace Ledger.Host.Observability;

/// <summary>
/// <c>Ledger:Telemetry:Traces</c>. Exporter: <c>none</c>, <c>otlp</c> (where to, from the standard
/// <c>OTEL_EXPORTER_OTLP_*</c> variables) or <c>console</c> (the host's standard output, for local use); when unset,
/// <c>otlp</c> if <c>OTEL_EXPORTER_OTLP_ENDPOINT</c> (or its traces-only form) is set, else none. SampleRatio: the share of
/// traces recorded, 0 to 1.
/// </summary>
public sealed class TracingOptions
{
    public const string Section = "Ledger:Telemetry:Traces";
    public const string None = "none", Otlp = "otlp", Console = "console";

    public string? Exporter { get; set; }
    public double SampleRatio { get; set; } = 1.0;

    /// <summary>
    /// Whether to trace at all. A ratio of 0 records nothing, so it registers no tracer provider either: the listeners on every
    /// source are the one cost tracing has that does not depend on the ratio (docs/benchmarks.md, "Tracing").
    /// </summary>
    public bool Exporting => Exporter is Otlp or Console && SampleRatio > 0;

    /// <summary>The options as configured, with the exporter the OTLP variables imply when none is named.</summary>
    public static TracingOptions From(IConfiguration configuration)
    {
        var options = configuration.GetSection(Section).Get<TracingOptions>() ?? new TracingOptions();
        options.Exporter = Resolve(options.Exporter, configuration);
        return options;
    }

    private static string? Resolve(string? exporter, IConfiguration configuration) =>
        string.IsNullOrWhiteSpace(exporter)
            ? (string.IsNullOrWhiteSpace(configuration["OTEL_EXPORTER_OTLP_ENDPOINT"]) && string.IsNullOrWhiteSpace(configuration["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"]) ? None : Otlp)
            : exporter.Trim().ToLowerInvariant();

    public sealed class Validation(IConfiguration configuration) : IValidateOptions<TracingOptions>
    {
        public ValidateOptionsResult Validate(string? name, TracingOptions options)
        {
            var errors = new List<string>();
            if (Resolve(options.Exporter, configuration) is not (None or Otlp or Console))
                errors.Add($"{Section}:Exporter must be none, otlp or console (it is '{options.Exporter}').");
            if (options.SampleRatio is < 0 or > 1 || double.IsNaN(options.SampleRatio))
                errors.Add($"{Section}:SampleRatio must be between 0 and 1 (it is {options.SampleRatio.ToString(CultureInfo.InvariantCulture)}).");
            return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
        }
    }
}
