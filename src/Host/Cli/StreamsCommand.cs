using System.Globalization;
using JasperFx.CommandLine;
using Ledger.Domain.Payments;
using Ledger.EventStore;
using Ledger.Host.Payments;
using Microsoft.Extensions.DependencyInjection;
using Spectre.Console;

namespace Ledger.Host.Cli;

public sealed class StreamsInput : ILedgerInput
{
    [Description("What to do: replay")]
    public string Action { get; set; } = "";

    [Description("The payment (stream) id")]
    public string PaymentId { get; set; } = "";

    [Description("Stop after this version (from 1)"), FlagAlias("at-version", true)]
    public long? AtVersionFlag { get; set; }

    [Description("Stop at this moment (RFC 3339, e.g. 2026-11-22T10:00:00Z)"), FlagAlias("at", true)]
    public string? AtFlag { get; set; }
}

[Description("Payment streams: `replay` prints a stream's events, then the payment folded from them, whole or as of a version or a moment", Name = "streams")]
public sealed class StreamsCommand : LedgerCommand<StreamsInput>
{
    public StreamsCommand(CliContext cli) : base(cli) =>
        Usage("Print a stream's events, then the payment folded from them: replay <paymentId>").Arguments(x => x.Action, x => x.PaymentId);

    protected override IReadOnlyDictionary<string, Func<StreamsInput, Task<bool>>> Actions =>
        new Dictionary<string, Func<StreamsInput, Task<bool>>> { ["replay"] = Replay };

    private async Task<bool> Replay(StreamsInput input)
    {
        var (version, time) = (input.AtVersionFlag, ParseTime(input.AtFlag));
        if (version is not null && time is not null) throw new UsageException("Give --at-version or --at, not both.");
        if (version is < 1) throw new UsageException("--at-version counts from 1.");
        await using var services = Cli.Services();
        var store = services.GetRequiredService<EventLog<PaymentEvent>>();
        var events = await store.ReadStreamAsync(input.PaymentId, version, time, Cli.Stop);
        if (events.Count == 0)
        {
            Cli.Console.MarkupLineInterpolated($"[yellow]No events for {input.PaymentId} up to that point.[/]");
            return false;
        }
        var table = new Table().AddColumns("version", "sequence", "type", "occurred at", "actor", "hash");
        foreach (var e in events)
            table.AddRow(e.Version.ToString(CultureInfo.InvariantCulture), e.Sequence.ToString(CultureInfo.InvariantCulture), e.Type,
                HashChain.Time(e.OccurredAt), Markup.Escape(e.Metadata.Actor ?? ""), Convert.ToHexStringLower(e.Hash)[..16] + "…");
        Cli.Console.Write(table);
        var state = Payment.Fold(events.Select(e => e.Data))!;
        var json = System.Text.Json.Nodes.JsonNode.Parse(PaymentResource.From(state).ToJson())!;
        await Cli.Writer.WriteLineAsync(json.ToJsonString(new System.Text.Json.JsonSerializerOptions { WriteIndented = true }));
        return true;
    }

    public static DateTimeOffset? ParseTime(string? text) =>
        text is null ? null
        : DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AdjustToUniversal, out var t) && (text.EndsWith('Z') || text.Contains('+') || text.LastIndexOf('-') > 10)
            ? t
            : throw new UsageException($"'{text}' is not an RFC 3339 time such as 2026-11-22T10:00:00Z.");
}
