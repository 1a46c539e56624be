using System.Collections.Concurrent;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Ledger.Api.Tests;

/// <summary>A span as an OTLP exporter sent it: ids in lowercase hex, attributes as text.</summary>
public sealed record ExportedSpan(
    string Service, string Scope, string TraceId, string SpanId, string? ParentSpanId, string Name, int Kind,
    IReadOnlyDictionary<string, string> Attributes, int StatusCode)
{
    public const int Server = 2, Client = 3, Producer = 4;
    public const int StatusError = 2;

    public string? this[string attribute] => Attributes.GetValueOrDefault(attribute);
}

/// <summary>
/// An OTLP/HTTP trace receiver on a loopback port (Kestrel): what a collector would be sent, decoded from the protobuf wire
/// format of opentelemetry-proto's ExportTraceServiceRequest (only the fields the specs read; the rest is skipped by wire
/// type, as any protobuf reader does). It also keeps every request's raw bytes, to search them for what must never leave.
/// </summary>
public sealed class OtlpReceiver : IAsyncDisposable
{
    private WebApplication? _app;
    public int Port { get; } = HostProcess.FreePort();
    public string Endpoint => $"http://127.0.0.1:{Port}";
    public ConcurrentQueue<ExportedSpan> Spans { get; } = new();
    public ConcurrentQueue<byte[]> Payloads { get; } = new();

    /// <summary>The host's settings that send its traces here, in OpenTelemetry's standard variables, batched every 100 ms.</summary>
    public Dictionary<string, string> Settings(double sampleRatio = 1.0) => new()
    {
        ["OTEL_EXPORTER_OTLP_ENDPOINT"] = Endpoint,
        ["OTEL_EXPORTER_OTLP_PROTOCOL"] = "http/protobuf",
        ["OTEL_BSP_SCHEDULE_DELAY"] = "100",
        ["Ledger:Telemetry:Traces:SampleRatio"] = sampleRatio.ToString(System.Globalization.CultureInfo.InvariantCulture),
    };

    public async Task StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls(Endpoint);
        builder.Logging.ClearProviders();
        _app = builder.Build();
        _app.MapPost("/v1/traces", async (HttpContext http) =>
        {
            using var copy = new MemoryStream();
            await http.Request.Body.CopyToAsync(copy);
            var bytes = copy.ToArray();
            Payloads.Enqueue(bytes);
            foreach (var span in Decode(bytes)) Spans.Enqueue(span);
            return Results.Bytes([], "application/x-protobuf"); // an empty ExportTraceServiceResponse: all accepted
        });
        await _app.StartAsync();
    }

    public List<ExportedSpan> Trace(string traceId) => Spans.Where(s => s.TraceId == traceId).ToList();

    /// <summary>Waits, with a deadline, until the trace has a span that matches.</summary>
    public async Task<List<ExportedSpan>> WaitForSpan(string traceId, Func<ExportedSpan, bool> match, string what, TimeSpan? within = null)
    {
        var deadline = DateTime.UtcNow + (within ?? TimeSpan.FromSeconds(20));
        while (!Trace(traceId).Any(match))
        {
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException($"No span {what} in trace {traceId}; it has: {string.Join(", ", Trace(traceId).Select(s => s.Name))}");
            await Task.Delay(50);
        }
        return Trace(traceId);
    }

    public async ValueTask DisposeAsync()
    {
        if (_app is null) return;
        await _app.StopAsync();
        await _app.DisposeAsync();
    }

    // ExportTraceServiceRequest { repeated ResourceSpans resource_spans = 1; }
    private static IEnumerable<ExportedSpan> Decode(byte[] request)
    {
        var spans = new List<ExportedSpan>();
        foreach (var (field, resourceSpans) in Wire.Messages(request))
        {
            if (field != 1) continue;
            // ResourceSpans { Resource resource = 1; repeated ScopeSpans scope_spans = 2; }
            var service = "";
            var scopes = new List<byte[]>();
            foreach (var (f, value) in Wire.Messages(resourceSpans))
            {
                if (f == 1) service = Attributes(value, attributeField: 1).GetValueOrDefault("service.name", "");
                else if (f == 2) scopes.Add(value);
            }
            foreach (var scopeSpans in scopes)
            {
                // ScopeSpans { InstrumentationScope scope = 1 { string name = 1; } ; repeated Span spans = 2; }
                var scope = "";
                foreach (var (f, value) in Wire.Messages(scopeSpans))
                    if (f == 1) scope = Wire.Messages(value).Where(x => x.Field == 1).Select(x => Wire.Text(x.Value)).FirstOrDefault("");
                foreach (var (f, value) in Wire.Messages(scopeSpans))
                    if (f == 2) spans.Add(Span(service, scope, value));
            }
        }
        return spans;
    }

    // Span { bytes trace_id = 1; bytes span_id = 2; bytes parent_span_id = 4; string name = 5; SpanKind kind = 6;
    //        repeated KeyValue attributes = 9; Status status = 15 { StatusCode code = 3; } }
    private static ExportedSpan Span(string service, string scope, byte[] span)
    {
        string trace = "", id = "", name = "";
        string? parent = null;
        var kind = 0;
        var status = 0;
        foreach (var (field, value) in Wire.Fields(span))
            switch (field)
            {
                case 1: trace = Convert.ToHexStringLower((byte[])value); break;
                case 2: id = Convert.ToHexStringLower((byte[])value); break;
                case 4: parent = ((byte[])value).Length == 0 ? null : Convert.ToHexStringLower((byte[])value); break;
                case 5: name = Wire.Text((byte[])value); break;
                case 6: kind = (int)(ulong)value; break;
                case 15: status = (int)Wire.Fields((byte[])value).Where(x => x.Field == 3).Select(x => (ulong)x.Value).FirstOrDefault(); break;
            }
        return new ExportedSpan(service, scope, trace, id, parent, name, kind, Attributes(span, attributeField: 9), status);
    }

    // KeyValue { string key = 1; AnyValue value = 2 { string string_value = 1; bool bool_value = 2; int64 int_value = 3; double double_value = 4; } }
    private static Dictionary<string, string> Attributes(byte[] message, int attributeField)
    {
        var attributes = new Dictionary<string, string>();
        foreach (var (field, keyValue) in Wire.Messages(message))
        {
            if (field != attributeField) continue;
            string key = "", text = "";
            foreach (var (f, value) in Wire.Messages(keyValue))
            {
                if (f == 1) key = Wire.Text(value);
                else if (f == 2)
                    foreach (var (kind, any) in Wire.Fields(value))
                        text = kind switch
                        {
                            1 => Wire.Text((byte[])any),
                            2 => (ulong)any != 0 ? "true" : "false",
                            3 => ((long)(ulong)any).ToString(System.Globalization.CultureInfo.InvariantCulture),
                            4 => BitConverter.Int64BitsToDouble((long)(ulong)any).ToString(System.Globalization.CultureInfo.InvariantCulture),
                            _ => text,
                        };
            }
            attributes[key] = text;
        }
        return attributes;
    }

    /// <summary>The protobuf wire format: each field a varint tag (number and wire type) then its value.</summary>
    private static class Wire
    {
        public static string Text(byte[] value) => System.Text.Encoding.UTF8.GetString(value);

        /// <summary>The length-delimited fields (sub-messages, strings, bytes) only.</summary>
        public static IEnumerable<(int Field, byte[] Value)> Messages(byte[] message) =>
            Fields(message).Where(f => f.Value is byte[]).Select(f => (f.Field, (byte[])f.Value));

        /// <summary>Every field: varints and fixed-width values as ulong, length-delimited ones as bytes.</summary>
        public static List<(int Field, object Value)> Fields(byte[] message)
        {
            var fields = new List<(int, object)>();
            var at = 0;
            while (at < message.Length)
            {
                var tag = Varint(message, ref at);
                var (field, type) = ((int)(tag >> 3), (int)(tag & 7));
                switch (type)
                {
                    case 0: fields.Add((field, Varint(message, ref at))); break;
                    case 1: fields.Add((field, BitConverter.ToUInt64(message, at))); at += 8; break;
                    case 2:
                        var length = (int)Varint(message, ref at);
                        fields.Add((field, message[at..(at + length)]));
                        at += length;
                        break;
                    case 5: fields.Add((field, (ulong)BitConverter.ToUInt32(message, at))); at += 4; break;
                    default: throw new InvalidDataException($"Wire type {type} of field {field} is not protobuf.");
                }
            }
            return fields;
        }

        private static ulong Varint(byte[] bytes, ref int at)
        {
            ulong value = 0;
            for (var shift = 0; ; shift += 7)
            {
                var b = bytes[at++];
                value |= (ulong)(b & 0x7f) << shift;
                if (b < 0x80) return value;
            }
        }
    }
}
