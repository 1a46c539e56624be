using JasperFx.CommandLine;
using Spectre.Console;
using Ledger.Domain.Payments;
using Ledger.EventStore;
using Ledger.Host.Http;
using Microsoft.Extensions.DependencyInjection;

namespace Ledger.Host.Cli;

public sealed class EventsInput : ILedgerInput
{
    [Description("What to do: export or import")]
    public string Action { get; set; } = "";

    [Description("export: start after this sequence (default 0: from the beginning)"), FlagAlias("after", true)]
    public long AfterFlag { get; set; }

    [Description("export: write to this file instead of standard output"), FlagAlias("out", true)]
    public string? OutFlag { get; set; }

    [Description("import: the JSON lines file an `events export` wrote"), FlagAlias("in", true)]
    public string? InFlag { get; set; }
}

[Description("The global event log: `export` it as JSON lines in commit-safe order, or `import` another Ledger's export after checking its hash chain", Name = "events")]
public sealed class EventsCommand : LedgerCommand<EventsInput>
{
    public EventsCommand(CliContext cli) : base(cli)
    {
        Usage("The log as JSON lines, in commit-safe order: export, from --after N, into --out FILE").Arguments(x => x.Action).ValidFlags(x => x.AfterFlag, x => x.OutFlag!);
        Usage("Copy an export (of a v1 database, say) into this log, after checking its hash chain: import --in FILE").Arguments(x => x.Action).ValidFlags(x => x.InFlag!);
    }

    protected override IReadOnlyDictionary<string, Func<EventsInput, Task<bool>>> Actions =>
        new Dictionary<string, Func<EventsInput, Task<bool>>> { ["export"] = Export, ["import"] = Import };

    /// <summary>
    /// Carries another Ledger's export (a v1 or v2 database's `events export`) into this log. Every hash and link of the
    /// file is checked first, from the file alone, the way docs/events.md shows; one that fails and nothing is
    /// written (exit 1). Then whole streams are copied in (the chain is computed anew on Marten's tables). The read
    /// model is not touched: `projections rebuild` builds it from the imported log.
    /// </summary>
    private async Task<bool> Import(EventsInput input)
    {
        if (input.OutFlag is not null || input.AfterFlag != 0) throw new UsageException("--after and --out are for export.");
        var path = input.InFlag ?? throw new UsageException("'events import' needs --in FILE.");
        if (!File.Exists(path)) throw new UsageException($"No such file: {path}");
        var streams = new Dictionary<string, List<(string Type, string Data, EventMetadata Metadata, byte[] Hash)>>(StringComparer.Ordinal);
        var problems = new List<string>();
        var lineNo = 0;
        foreach (var line in File.ReadLines(path))
        {
            lineNo++;
            if (line.Length == 0) continue;
            using var document = System.Text.Json.JsonDocument.Parse(line);
            var e = document.RootElement;
            var (id, version, type, at) = (e.GetProperty("streamId").GetString()!, e.GetProperty("version").GetInt64(),
                e.GetProperty("type").GetString()!, e.GetProperty("occurredAt").GetString()!);
            var (data, metadata) = (e.GetProperty("data").GetRawText(), e.GetProperty("metadata").GetRawText());
            var previous = e.GetProperty("previousHash").GetString() is { } p ? Convert.FromHexString(p) : null;
            var hash = Convert.FromHexString(e.GetProperty("hash").GetString()!);
            var stream = streams.TryGetValue(id, out var known) ? known : streams[id] = [];
            var where = $"line {lineNo}: stream {id} version {version}";
            if (version != stream.Count + 1) problems.Add($"{where}: expected version {stream.Count + 1} (the file must hold whole streams, in order)");
            else if (!(previous ?? []).AsSpan().SequenceEqual(stream.Count == 0 ? Array.Empty<byte>() : stream[^1].Hash))
                problems.Add($"{where}: previousHash is not the hash of version {version - 1}");
            else if (!HashesUnderEitherRule(previous, hash, id, version, type, at, data, metadata))
                problems.Add($"{where}: hash does not match its contents (edited?)");
            string? Text(string name) => e.GetProperty("metadata").TryGetProperty(name, out var v) ? v.GetString() : null;
            stream.Add((type, data, new EventMetadata(Text("correlationId"), Text("causationId"), Text("idempotencyKey"), Text("actor")), hash));
        }
        var total = streams.Sum(s => s.Value.Count);
        if (problems.Count > 0)
        {
            Cli.Console.WriteLine($"Checked {total:N0} events in {streams.Count:N0} streams; {problems.Count} discrepancies, nothing imported:");
            foreach (var problem in problems) await Cli.Writer.WriteLineAsync($"discrepancy: {problem}");
            return false;
        }
        await using var services = Cli.Services();
        var store = services.GetRequiredService<EventLog<PaymentEvent>>();
        var written = await store.ImportAsync(streams.Select(s => (s.Key,
            (IReadOnlyList<EventMetadata>)s.Value.Select(e => e.Metadata).ToList(),
            (IReadOnlyList<PaymentEvent>)s.Value.Select(e => store.Codec.Deserialize(e.Type, e.Data)).ToList())), ct: Cli.Stop);
        Cli.Console.WriteLine($"Checked {total:N0} events in {streams.Count:N0} streams: every hash and link holds.");
        Cli.Console.WriteLine($"Imported {written:N0} events. Run `projections rebuild` to build the read model from them.");
        return true;
    }

    /// <summary>
    /// An exported event's hash under v2's rule (docs/events.md: the link of its content hash) or v1's (SHA-256 of the
    /// previous hash and the six lines with data and metadata as v1 stored their text): an export of either kind imports.
    /// </summary>
    private static bool HashesUnderEitherRule(byte[]? previous, byte[] hash, string id, long version, string type, string at, string data, string metadata)
    {
        var v1 = System.Security.Cryptography.SHA256.HashData(
            [.. previous ?? [], .. System.Text.Encoding.UTF8.GetBytes($"{id}\n{version}\n{type}\n{at}\n{data}\n{metadata}")]);
        if (v1.AsSpan().SequenceEqual(hash)) return true;
        if (!DateTimeOffset.TryParse(at, System.Globalization.CultureInfo.InvariantCulture, System.Globalization.DateTimeStyles.AssumeUniversal, out var when)
            || HashChain.Time(when) != at) return false;
        return HashChain.Link(previous, HashChain.ContentHash(id, version, type, when, data, metadata)).AsSpan().SequenceEqual(hash);
    }

    private async Task<bool> Export(EventsInput input)
    {
        if (input.InFlag is not null) throw new UsageException("--in is for import.");
        if (input.AfterFlag < 0) throw new UsageException("--after is a sequence, 0 or more.");
        await using var services = Cli.Services();
        var store = services.GetRequiredService<EventLog<PaymentEvent>>();
        await using var file = input.OutFlag is null ? null : new StreamWriter(input.OutFlag, append: false, new System.Text.UTF8Encoding(false));
        var writer = file ?? Cli.Writer;
        var position = await store.PositionOfAsync(input.AfterFlag, Cli.Stop);
        long count = 0;
        while (true)
        {
            var (events, hasMore) = await store.ReadFromAsync(position, 10_000, commitSafe: true, Cli.Stop);
            foreach (var e in events)
                await writer.WriteLineAsync(System.Text.Json.JsonSerializer.Serialize(Auditing.EventResource.From(e), ApiJson.Default.EventResource));
            count += events.Count;
            if (events.Count > 0) position = LogPosition.Of(events[^1]);
            if (!hasMore) break;
        }
        if (file is not null) Cli.Console.WriteLine($"Exported {count:N0} events to {input.OutFlag}.");
        return true;
    }
}
