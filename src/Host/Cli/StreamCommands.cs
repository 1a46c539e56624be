using System.CommandLine;
using System.Globalization;
using Ledger.Domain.Payments;
using Ledger.EventStore;
using Ledger.Host.Http;
using Ledger.Host.Payments;
using Microsoft.Extensions.DependencyInjection;
using Spectre.Console;

namespace Ledger.Host.Cli;

public static class StreamCommands
{
    public static Command Create(CliContext cli) => CliContext.Group("streams", "Payment streams.", Replay(cli));

    private static Command Replay(CliContext cli)
    {
        var id = new Argument<string>("paymentId") { Description = "The payment (stream) id." };
        var atVersion = new Option<long?>("--at-version") { Description = "Stop after this version (from 1)." };
        var at = new Option<string?>("--at") { Description = "Stop at this moment (RFC 3339, e.g. 2026-11-22T10:00:00Z)." };
        var command = new Command("replay", "Print a stream's events, then the payment folded from them.") { id, atVersion, at };
        command.SetAction(async (parse, ct) =>
        {
            var (version, time) = (parse.GetValue(atVersion), ParseTime(parse.GetValue(at)));
            if (version is not null && time is not null) throw new UsageException("Give --at-version or --at, not both.");
            if (version is < 1) throw new UsageException("--at-version counts from 1.");
            await using var services = cli.Services();
            var store = services.GetRequiredService<EventLog<PaymentEvent>>();
            var events = await store.ReadStreamAsync(parse.GetValue(id)!, version, time, ct);
            if (events.Count == 0)
            {
                cli.Console.MarkupLineInterpolated($"[yellow]No events for {parse.GetValue(id)} up to that point.[/]");
                return ExitCodes.Discrepancies;
            }
            var table = new Table().AddColumns("version", "sequence", "type", "occurred at", "actor", "hash");
            foreach (var e in events)
                table.AddRow(e.Version.ToString(CultureInfo.InvariantCulture), e.Sequence.ToString(CultureInfo.InvariantCulture), e.Type,
                    e.OccurredAt.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ss.ffffffZ", CultureInfo.InvariantCulture),
                    Markup.Escape(e.Metadata.Actor ?? ""), Convert.ToHexStringLower(e.Hash)[..16] + "…");
            cli.Console.Write(table);
            var state = Payment.Fold(events.Select(e => e.Data))!;
            var json = System.Text.Json.Nodes.JsonNode.Parse(PaymentResource.From(state).ToJson())!;
            cli.Writer.WriteLine(json.ToJsonString(new System.Text.Json.JsonSerializerOptions { WriteIndented = true }));
            return ExitCodes.Ok;
        });
        return command;
    }

    public static DateTimeOffset? ParseTime(string? text) =>
        text is null ? null
        : DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AdjustToUniversal, out var t) && (text.EndsWith('Z') || text.Contains('+') || text.LastIndexOf('-') > 10)
            ? t
            : throw new UsageException($"'{text}' is not an RFC 3339 time such as 2026-11-22T10:00:00Z.");
}

public static class AuditCommands
{
    public static Command Create(CliContext cli) => CliContext.Group("audit", "Prove the log and the read models agree.", Verify(cli));

    private static Command Verify(CliContext cli)
    {
        var command = new Command("verify",
            "Recompute every stream's hash chain, fold every stream and compare with every read model, check debits equal credits. Exit 1 on any discrepancy.");
        command.SetAction(async (_, ct) =>
        {
            await using var services = cli.Services();
            var audit = new Ledger.Projections.Rebuild.ReadModelAudit(
                services.GetRequiredService<Npgsql.NpgsqlDataSource>(), services.GetRequiredService<EventLog<PaymentEvent>>());
            Ledger.Projections.Rebuild.AuditReport? report = null;
            await cli.Console.Progress().StartAsync(async progress =>
            {
                var task = progress.AddTask("verifying", maxValue: 1);
                report = await audit.RunAsync(new Progress<(long Done, long Total)>(p => (task.MaxValue, task.Value) = (Math.Max(1, p.Total), p.Done)), ct);
                task.Value = task.MaxValue;
            });
            cli.Console.WriteLine($"Checked {report!.Events:N0} events in {report.Streams:N0} streams against {Ledger.Projections.Rebuild.ReadModelTables.All.Count} read tables.");
            if (report.Clean)
            {
                cli.Console.MarkupLine("[green]OK: hash chains intact, read models equal the log, debits equal credits.[/]");
                return ExitCodes.Ok;
            }
            cli.Console.MarkupLineInterpolated($"[red]{report.Discrepancies.Count} discrepancies:[/]");
            // One finding per line, never wrapped, so CI can grep it.
            foreach (var problem in report.Discrepancies) cli.Writer.WriteLine($"discrepancy: {problem.ReplaceLineEndings(" ")}");
            return ExitCodes.Discrepancies;
        });
        return command;
    }
}

public static class EventCommands
{
    public static Command Create(CliContext cli) => CliContext.Group("events", "The global event log.", Export(cli), Import(cli));

    /// <summary>
    /// Carries another Ledger's export (a v1 or v2 database's `events export`) into this log. Every hash and link of the
    /// file is checked first, from the file alone, the way docs/events.md shows; one that fails and nothing is
    /// written (exit 1). Then whole streams are copied in (the chain is computed anew on Marten's tables). The read
    /// model is not touched: `projections rebuild` builds it from the imported log.
    /// </summary>
    private static Command Import(CliContext cli)
    {
        var input = new Option<string>("--in") { Description = "The JSON lines file an `events export` wrote.", Required = true };
        var command = new Command("import", "Copy an export (of a v1 database, say) into this log, after checking its hash chain.") { input };
        command.SetAction(async (parse, ct) =>
        {
            var path = parse.GetValue(input)!;
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
                cli.Console.WriteLine($"Checked {total:N0} events in {streams.Count:N0} streams; {problems.Count} discrepancies, nothing imported:");
                foreach (var problem in problems) cli.Writer.WriteLine($"discrepancy: {problem}");
                return ExitCodes.Discrepancies;
            }
            await using var services = cli.Services();
            var store = services.GetRequiredService<EventLog<PaymentEvent>>();
            var written = await store.ImportAsync(streams.Select(s => (s.Key,
                (IReadOnlyList<EventMetadata>)s.Value.Select(e => e.Metadata).ToList(),
                (IReadOnlyList<PaymentEvent>)s.Value.Select(e => store.Codec.Deserialize(e.Type, e.Data)).ToList())), ct: ct);
            cli.Console.WriteLine($"Checked {total:N0} events in {streams.Count:N0} streams: every hash and link holds.");
            cli.Console.WriteLine($"Imported {written:N0} events. Run `projections rebuild` to build the read model from them.");
            return ExitCodes.Ok;
        });
        return command;
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
        return HashChain.Link(previous, HashChain.ContentHash(HashChain.Canonical(id, version, type, when, data, metadata))).AsSpan().SequenceEqual(hash);
    }

    private static Command Export(CliContext cli)
    {
        var after = new Option<long>("--after") { Description = "Start after this sequence (default 0: from the beginning).", DefaultValueFactory = _ => 0 };
        var output = new Option<string?>("--out") { Description = "Write to this file instead of standard output." };
        var command = new Command("export", "The log as JSON lines, in commit-safe order.") { after, output };
        command.SetAction(async (parse, ct) =>
        {
            if (parse.GetValue(after) < 0) throw new UsageException("--after is a sequence, 0 or more.");
            await using var services = cli.Services();
            var store = services.GetRequiredService<EventLog<PaymentEvent>>();
            var path = parse.GetValue(output);
            await using var file = path is null ? null : new StreamWriter(path, append: false, new System.Text.UTF8Encoding(false));
            var writer = file ?? cli.Writer;
            var position = await store.PositionOfAsync(parse.GetValue(after), ct);
            long count = 0;
            while (true)
            {
                var (events, hasMore) = await store.ReadFromAsync(position, 10_000, commitSafe: true, ct);
                foreach (var e in events)
                    await writer.WriteLineAsync(System.Text.Json.JsonSerializer.Serialize(Auditing.EventResource.From(e), ApiJson.Default.EventResource));
                count += events.Count;
                if (events.Count > 0) position = LogPosition.Of(events[^1]);
                if (!hasMore) break;
            }
            if (file is not null) cli.Console.WriteLine($"Exported {count:N0} events to {path}.");
            return ExitCodes.Ok;
        });
        return command;
    }
}
