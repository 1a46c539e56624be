using JasperFx.CommandLine;
using Ledger.Domain.Payments;
using Ledger.EventStore;
using Ledger.Host.Reporting;
using Ledger.Projections;
using Ledger.Projections.Rebuild;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using Spectre.Console;

namespace Ledger.Host.Cli;

public sealed class ProjectionsInput : ILedgerInput
{
    [Description("What to do: list or rebuild")]
    public string Action { get; set; } = "";

    [Description("Projections to rebuild (default all): payment_views, receipts, metrics, ledger")]
    public IEnumerable<string> Names { get; set; } = [];
}

/// <summary>
/// Ledger's read models: its inline projections, rebuilt by Ledger's COPY-based rebuild into fresh tables and swapped
/// in. It replaces the `projections` command of JasperFx.Events, which drives Marten's async daemon.
/// </summary>
[Description("Read models built from the event log: `list` them, or `rebuild` them from the log while the API serves", Name = "projections")]
public sealed class ProjectionsCommand : LedgerCommand<ProjectionsInput>
{
    public ProjectionsCommand(CliContext cli) : base(cli)
    {
        Usage("Each projection with its rows, position in the log, lag and last rebuild: list").Arguments(x => x.Action);
        Usage("Rebuild every projection into fresh tables and swap them in: rebuild").Arguments(x => x.Action);
        Usage("Rebuild the named projections: rebuild <name>...").Arguments(x => x.Action, x => x.Names);
    }

    protected override IReadOnlyDictionary<string, Func<ProjectionsInput, Task<bool>>> Actions => new Dictionary<string, Func<ProjectionsInput, Task<bool>>>
    {
        ["list"] = List,
        ["rebuild"] = Rebuild,
    };

    private async Task<bool> List(ProjectionsInput input)
    {
        if (input.Names.Any()) throw new UsageException("'projections list' takes no names.");
        await using var services = Cli.Services();
        var db = services.GetRequiredService<NpgsqlDataSource>();
        var table = new Spectre.Console.Table().AddColumns("projection", "tables", "rows", "position", "lag", "last rebuild");
        foreach (var p in await ProjectionStatus.ReadAsync(db, Cli.Stop))
            table.AddRow(p.Name, string.Join(", ", p.Tables), p.Rows.ToString("N0"), p.Position.ToString("N0"),
                p.InFlight == 0 ? "0" : $"0 (+{p.InFlight} in flight)",
                p.LastRebuild is { } r ? $"{r.At:yyyy-MM-dd HH:mm:ss}Z, {r.Events:N0} events, {r.EventsPerSecond:N0}/s" : "never");
        Cli.Console.Write(table);
        return true;
    }

    private async Task<bool> Rebuild(ProjectionsInput input)
    {
        var chosen = input.Names.Any() ? input.Names.Distinct().ToList() : ReadModelTables.Projections.ToList();
        var unknown = chosen.Except(ReadModelTables.Projections).ToList();
        if (unknown.Count > 0)
            throw new UsageException($"Unknown projection(s): {string.Join(", ", unknown)}. Known: {string.Join(", ", ReadModelTables.Projections)}.");
        await using var services = Cli.Services();
        var rebuilder = new ProjectionRebuilder(services.GetRequiredService<NpgsqlDataSource>(), services.GetRequiredService<EventLog<PaymentEvent>>());
        RebuildResult? result = null;
        await Cli.Console.Progress()
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn())
            .StartAsync(async progress =>
            {
                var task = progress.AddTask($"rebuilding {string.Join(", ", chosen)}", maxValue: 1);
                result = await rebuilder.RebuildAsync(chosen, new Progress<(long Done, long Total)>(p =>
                {
                    task.MaxValue = Math.Max(1, p.Total);
                    task.Value = p.Done;
                }), Cli.Stop);
                task.Value = task.MaxValue;
            });
        Cli.Console.WriteLine(
            $"Rebuilt {string.Join(", ", result!.Projections)}: {result.Events:N0} events ({result.CaughtUp:N0} appended while rebuilding) " +
            $"in {result.Elapsed.TotalSeconds:N1} s, {result.EventsPerSecond:N0} events/s.");
        return true;
    }
}
