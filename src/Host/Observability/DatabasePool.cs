using System.Diagnostics.Metrics;

namespace Ledger.Host.Observability;

/// <summary>
/// The host's connection pool as Npgsql measures it (its standard <c>db.client.connection.*</c> instruments), for the
/// <c>ledger_db_*</c> gauges with the names and the <c>state</c> label they had before OpenTelemetry: only the pool
/// named <see cref="PoolName"/>, never the connection string.
/// </summary>
public sealed class DatabasePool : IDisposable
{
    public const string PoolName = "ledger";
    private const string Count = "db.client.connection.count", Max = "db.client.connection.max", Pending = "db.client.connection.npgsql.pending_requests";

    private readonly MeterListener _listener = new();
    private readonly Lock _lock = new();
    private readonly Dictionary<string, long> _byState = new(StringComparer.Ordinal);
    private long _max, _pending;

    public DatabasePool()
    {
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter.Name == "Npgsql" && instrument.Name is Count or Max or Pending) listener.EnableMeasurementEvents(instrument);
        };
        _listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) => Record(instrument.Name, value, tags));
        _listener.SetMeasurementEventCallback<int>((instrument, value, tags, _) => Record(instrument.Name, value, tags));
        _listener.Start();
    }

    private void Record(string instrument, long value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        string? pool = null, state = null;
        foreach (var tag in tags)
            if (tag.Key == "db.client.connection.pool.name") pool = tag.Value as string;
            else if (tag.Key == "db.client.connection.state") state = tag.Value as string;
        if (pool != PoolName) return;
        lock (_lock)
            switch (instrument)
            {
                case Count when state is not null: _byState[state] = _byState.GetValueOrDefault(state) + value; break;
                case Max: _max += value; break;
                case Pending: _pending += value; break; // a counter of changes: it adds up
            }
    }

    /// <summary>Reads the pool afresh: connections by state (idle, used), the maximum, and requests waiting for one.</summary>
    public (IReadOnlyDictionary<string, long> ByState, long Max, long Pending) Read()
    {
        lock (_lock)
        {
            _byState.Clear();
            _max = 0;
            _listener.RecordObservableInstruments();
            foreach (var state in new[] { "idle", "used" }) _byState.TryAdd(state, 0);
            return (new Dictionary<string, long>(_byState), _max, _pending);
        }
    }

    public void Dispose() => _listener.Dispose();
}
