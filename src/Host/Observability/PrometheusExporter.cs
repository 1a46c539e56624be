using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Globalization;
using System.Text;

namespace Ledger.Host.Observability;

/// <summary>
/// GET /metrics in the Prometheus text format, from System.Diagnostics.Metrics: the Ledger meter's counters
/// and ASP.NET Core's request-duration histogram, only those of this host (its IMeterFactory).
/// </summary>
public sealed class PrometheusExporter : IDisposable
{
    private static readonly double[] Buckets = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
    private static readonly Dictionary<string, (string Name, string Help)> Counters = new()
    {
        ["ledger.payments.created"] = ("ledger_payments_created_total", "Payments requested."),
        ["ledger.payments.succeeded"] = ("ledger_payments_succeeded_total", "Payments charged."),
        ["ledger.payments.failed"] = ("ledger_payments_failed_total", "Payments declined or failed, by code."),
        ["ledger.refunds"] = ("ledger_refunds_total", "Refunds made."),
    };
    private const string DurationInstrument = "http.server.request.duration";
    private static readonly Dictionary<string, (string Name, string Help)> PoolGauges = new()
    {
        ["db.client.connection.count"] = ("ledger_db_connections", "Connections in the database pool, by state (idle, used)."),
        ["db.client.connection.max"] = ("ledger_db_connections_max", "The database pool's maximum size."),
        ["db.client.connection.npgsql.pending_requests"] = ("ledger_db_connection_pending_requests", "Requests waiting for a pooled connection."),
    };
    public const string PoolName = "ledger";

    private readonly MeterListener _listener = new();
    private readonly ConcurrentDictionary<(string Name, string Labels), long> _counts = new();
    private readonly ConcurrentDictionary<string, Histogram> _durations = new();
    private readonly ConcurrentDictionary<(string Name, string Labels), long> _gauges = new();
    private readonly ConcurrentDictionary<(string Name, string Labels), long> _pending = new();

    public PrometheusExporter(IMeterFactory factory, LedgerMeter _)
    {
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            // The pool's instruments come from the driver, not from this host's factory: matched by the pool's name instead.
            if (instrument.Meter.Name == "Npgsql" && PoolGauges.ContainsKey(instrument.Name))
            {
                listener.EnableMeasurementEvents(instrument);
                return;
            }
            if (instrument.Meter.Scope != factory) return;
            if ((instrument.Meter.Name == LedgerMeter.Name && Counters.ContainsKey(instrument.Name))
                || (instrument.Meter.Name == "Microsoft.AspNetCore.Hosting" && instrument.Name == DurationInstrument))
                listener.EnableMeasurementEvents(instrument);
        };
        _listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) => Record(instrument, value, tags));
        _listener.SetMeasurementEventCallback<int>((instrument, value, tags, _) => Record(instrument, value, tags));
        _listener.SetMeasurementEventCallback<double>((_, value, tags, _) =>
            _durations.GetOrAdd(Labels(tags, "http.request.method", "http.route", "http.response.status_code"), _ => new Histogram()).Record(value));
        _listener.Start();
    }

    private void Record(Instrument instrument, long value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        if (instrument.Meter.Name == "Npgsql")
        {
            foreach (var tag in tags)
                if (tag.Key == "db.client.connection.pool.name" && tag.Value as string != PoolName) return;
            // Observed values are read afresh at each scrape; the pending-requests counter reports deltas and accumulates.
            var key = (PoolGauges[instrument.Name].Name, Labels(tags, "db.client.connection.state"));
            (instrument.IsObservable ? _gauges : _pending).AddOrUpdate(key, value, (_, v) => v + value);
        }
        else _counts.AddOrUpdate((Counters[instrument.Name].Name, Labels(tags, "code")), value, (_, v) => v + value);
    }

    public string Render()
    {
        var sb = new StringBuilder();
        lock (_gauges)
        {
            _gauges.Clear();
            _listener.RecordObservableInstruments();
            foreach (var (name, help) in PoolGauges.Values)
            {
                sb.Append($"# HELP {name} {help}\n# TYPE {name} gauge\n");
                var series = _gauges.Concat(_pending).Where(g => g.Key.Name == name).OrderBy(g => g.Key.Labels, StringComparer.Ordinal).ToList();
                if (series.Count == 0) sb.Append($"{name} 0\n");
                foreach (var (key, value) in series) sb.Append($"{name}{Braced(key.Labels)} {value}\n");
            }
        }
        foreach (var (name, help) in Counters.Values)
        {
            sb.Append($"# HELP {name} {help}\n# TYPE {name} counter\n");
            var series = _counts.Where(c => c.Key.Name == name).OrderBy(c => c.Key.Labels, StringComparer.Ordinal).ToList();
            if (series.Count == 0) sb.Append($"{name} 0\n");
            foreach (var (key, value) in series) sb.Append($"{name}{Braced(key.Labels)} {value}\n");
        }
        const string duration = "http_server_request_duration_seconds";
        sb.Append($"# HELP {duration} Duration of HTTP requests, by method, route and status.\n# TYPE {duration} histogram\n");
        foreach (var (labels, histogram) in _durations.OrderBy(d => d.Key, StringComparer.Ordinal))
            histogram.Render(sb, duration, labels);
        return sb.ToString();
    }

    private static string Labels(ReadOnlySpan<KeyValuePair<string, object?>> tags, params string[] wanted)
    {
        var parts = new List<string>();
        foreach (var tag in tags)
            if (wanted.Contains(tag.Key))
            {
                var name = tag.Key switch
                {
                    "http.request.method" => "method", "http.route" => "route", "http.response.status_code" => "status",
                    "db.client.connection.state" => "state", _ => tag.Key,
                };
                var value = Convert.ToString(tag.Value, CultureInfo.InvariantCulture)!.Replace("\\", "\\\\").Replace("\"", "\\\"").Replace("\n", "\\n");
                parts.Add($"{name}=\"{value}\"");
            }
        parts.Sort(StringComparer.Ordinal);
        return string.Join(',', parts);
    }

    private static string Braced(string labels) => labels.Length == 0 ? "" : $"{{{labels}}}";

    private sealed class Histogram
    {
        private readonly long[] _buckets = new long[Buckets.Length];
        private long _count;
        private double _sum;

        public void Record(double seconds)
        {
            lock (this)
            {
                for (var i = 0; i < Buckets.Length; i++) if (seconds <= Buckets[i]) _buckets[i]++;
                _count++;
                _sum += seconds;
            }
        }

        public void Render(StringBuilder sb, string name, string labels)
        {
            lock (this)
            {
                var prefix = labels.Length == 0 ? "" : labels + ",";
                for (var i = 0; i < Buckets.Length; i++)
                    sb.Append(CultureInfo.InvariantCulture, $"{name}_bucket{{{prefix}le=\"{Buckets[i]}\"}} {_buckets[i]}\n");
                sb.Append(CultureInfo.InvariantCulture, $"{name}_bucket{{{prefix}le=\"+Inf\"}} {_count}\n");
                sb.Append(CultureInfo.InvariantCulture, $"{name}_sum{Braced(labels)} {_sum}\n{name}_count{Braced(labels)} {_count}\n");
            }
        }
    }

    public void Dispose() => _listener.Dispose();

    public static void Map(IEndpointRouteBuilder app) =>
        app.MapGet("/metrics", (PrometheusExporter exporter) => Results.Text(exporter.Render(), "text/plain; version=0.0.4; charset=utf-8"))
            .WithTags("Operations").WithName("PrometheusMetrics").WithSummary("Prometheus text exposition")
            .WithDescription("Business counters of this process and HTTP request durations by method, route and status.")
            .Produces<string>(StatusCodes.Status200OK, "text/plain").WithMetadata(new Http.MalformedRequests());
}
