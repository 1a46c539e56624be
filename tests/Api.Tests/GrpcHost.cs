using Grpc.Core;
using Grpc.Net.Client;
using Ledger.Testing;

namespace Ledger.Api.Tests;

/// <summary>
/// The ledger as a process of its own with its gRPC endpoint (h2c on a loopback port of its own) and a database of its
/// own, and a Grpc.Net.Client channel to it: what the gRPC spec classes start, each with the settings it needs.
/// </summary>
public sealed class GrpcHost(IReadOnlyDictionary<string, string>? settings = null) : IAsyncDisposable
{
    public TestDatabase Database { get; } = new();
    public HostProcess Process { get; private set; } = null!;
    public GrpcChannel Channel { get; private set; } = null!;
    /// <summary>host:port of the gRPC endpoint.</summary>
    public string Address { get; private set; } = "";
    public string Url => $"http://{Address}";

    public async Task StartAsync()
    {
        await Database.InitializeAsync();
        Address = $"127.0.0.1:{HostProcess.FreePort()}";
        var all = new Dictionary<string, string>(settings ?? new Dictionary<string, string>()) { ["Ledger:Grpc:Url"] = Url };
        Process = new HostProcess(Database.ConnectionString, all);
        await Process.StartAsync();
        Channel = GrpcChannel.ForAddress(Url);
    }

    /// <summary>Call metadata: the API key, and an idempotency key when given.</summary>
    public static Metadata As(string? apiKey, string? idempotencyKey = null)
    {
        var metadata = new Metadata();
        if (apiKey is not null) metadata.Add("authorization", $"Bearer {apiKey}");
        if (idempotencyKey is not null) metadata.Add("idempotency-key", idempotencyKey);
        return metadata;
    }

    public async ValueTask DisposeAsync()
    {
        Channel?.Dispose();
        if (Process is not null) await Process.DisposeAsync();
        await Database.DisposeAsync();
    }
}
