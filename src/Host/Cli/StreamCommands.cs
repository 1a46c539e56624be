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
    public static Command Create(CliContext cli) => CliContext.Group("events", "The global event log.", Export(cli));

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
