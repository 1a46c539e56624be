using System.Diagnostics;

namespace Ledger.EventStore;

/// <summary>
/// Ledger's own spans (ActivitySource "Ledger"), where they explain what the stack's spans do not: the idempotency look,
/// the append with its inline projections, the gateway call and its outcome, webhook deliveries, rebuild phases. Nothing
/// is recorded unless a tracer listens (StartActivity answers null), so they cost nothing with tracing off.
/// </summary>
public static class LedgerActivity
{
    public const string SourceName = "Ledger";

    public static readonly ActivitySource Source = new(SourceName);

    public static Activity? Start(string name, ActivityKind kind = ActivityKind.Internal) => Source.StartActivity(name, kind);

    /// <summary>
    /// Marks a span failed with the exception's type (never its message: it may quote a value). Always false, for an
    /// exception filter that records and lets the exception go on: <c>catch (Exception e) when (span.RecordsFailure(e))</c>.
    /// </summary>
    public static bool RecordsFailure(this Activity? activity, Exception e)
    {
        if (activity is null) return false;
        activity.SetStatus(ActivityStatusCode.Error, e.GetType().Name);
        activity.SetTag("error.type", e.GetType().FullName);
        return false;
    }
}
