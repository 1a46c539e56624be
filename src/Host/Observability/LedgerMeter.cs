using System.Diagnostics.Metrics;

namespace Ledger.Host.Observability;

/// <summary>Business counters of this process, exposed on GET /metrics. The tables behind /v1/metrics are the books.</summary>
public sealed class LedgerMeter
{
    public const string Name = "Ledger";
    private readonly Counter<long> _created;
    private readonly Counter<long> _succeeded;
    private readonly Counter<long> _failed;
    private readonly Counter<long> _refunds;

    public LedgerMeter(IMeterFactory factory)
    {
        var meter = factory.Create(Name);
        _created = meter.CreateCounter<long>("ledger.payments.created", description: "Payments requested.");
        _succeeded = meter.CreateCounter<long>("ledger.payments.succeeded", description: "Payments charged.");
        _failed = meter.CreateCounter<long>("ledger.payments.failed", description: "Payments declined or failed, by code.");
        _refunds = meter.CreateCounter<long>("ledger.refunds", description: "Refunds made.");
    }

    public void PaymentCreated() => _created.Add(1);
    public void PaymentSucceeded() => _succeeded.Add(1);
    public void PaymentFailed(string code) => _failed.Add(1, new KeyValuePair<string, object?>("code", code));
    public void Refunded() => _refunds.Add(1);
}
