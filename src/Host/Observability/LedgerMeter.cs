using System.Diagnostics.Metrics;

namespace Ledger.Host.Observability;

/// <summary>
/// Ledger's own instruments, exported through OpenTelemetry (Telemetry.cs) on GET /metrics as <c>ledger_*</c>: business
/// counters of this process (the tables behind /v1/metrics are the books) and the database pool's gauges.
/// </summary>
public sealed class LedgerMeter
{
    public const string Name = "Ledger";
    private readonly Counter<long> _created;
    private readonly Counter<long> _succeeded;
    private readonly Counter<long> _failed;
    private readonly Counter<long> _refunds;

    public LedgerMeter(IMeterFactory factory, DatabasePool pool)
    {
        var meter = factory.Create(Name);
        _created = meter.CreateCounter<long>("ledger.payments.created", description: "Payments requested.");
        _succeeded = meter.CreateCounter<long>("ledger.payments.succeeded", description: "Payments charged.");
        _failed = meter.CreateCounter<long>("ledger.payments.failed", description: "Payments declined or failed, by code.");
        _refunds = meter.CreateCounter<long>("ledger.refunds", description: "Refunds made.");
        meter.CreateObservableGauge("ledger.db.connections",
            () => pool.Read().ByState.Select(s => new Measurement<long>(s.Value, new KeyValuePair<string, object?>("state", s.Key))),
            description: "Connections in the database pool, by state (idle, used).");
        meter.CreateObservableGauge("ledger.db.connections_max", () => pool.Read().Max, description: "The database pool's maximum size.");
        meter.CreateObservableGauge("ledger.db.connection_pending_requests", () => pool.Read().Pending,
            description: "Requests waiting for a pooled connection.");
    }

    public void PaymentCreated() => _created.Add(1);
    public void PaymentSucceeded() => _succeeded.Add(1);
    public void PaymentFailed(string code) => _failed.Add(1, new KeyValuePair<string, object?>("code", code));
    public void Refunded() => _refunds.Add(1);
}
