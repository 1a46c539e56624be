using JasperFx.CommandLine;
using Ledger.Domain.Payments;
using Ledger.EventStore;
using Ledger.Projections;
using Ledger.Projections.Rebuild;
using Microsoft.Extensions.DependencyInjection;
using Spectre.Console;

namespace Ledger.Host.Cli;

public sealed class AuditInput : ILedgerInput
{
    [Description("What to do: verify")]
    public string Action { get; set; } = "";
}

[Description("Prove the log and the read models agree: `verify` recomputes every hash chain, folds every stream, compares every read model and checks debits equal credits (exit 1 on any discrepancy)", Name = "audit")]
public sealed class AuditCommand : LedgerCommand<AuditInput>
{
    public AuditCommand(CliContext cli) : base(cli) =>
        Usage("Check the log and every read model; one `discrepancy:` line per finding: verify").Arguments(x => x.Action);

    protected override IReadOnlyDictionary<string, Func<AuditInput, Task<bool>>> Actions =>
        new Dictionary<string, Func<AuditInput, Task<bool>>> { ["verify"] = Verify };

    private async Task<bool> Verify(AuditInput _)
    {
        await using var services = Cli.Services();
        var audit = new ReadModelAudit(services.GetRequiredService<Npgsql.NpgsqlDataSource>(), services.GetRequiredService<EventLog<PaymentEvent>>());
        AuditReport? report = null;
        await Cli.Console.Progress().StartAsync(async progress =>
        {
            var task = progress.AddTask("verifying", maxValue: 1);
            report = await audit.RunAsync(new Progress<(long Done, long Total)>(p => (task.MaxValue, task.Value) = (Math.Max(1, p.Total), p.Done)), Cli.Stop);
            task.Value = task.MaxValue;
        });
        Cli.Console.WriteLine($"Checked {report!.Events:N0} events in {report.Streams:N0} streams against {ReadModelTables.All.Count} read tables.");
        if (report.Clean)
        {
            Cli.Console.MarkupLine("[green]OK: hash chains intact, read models equal the log, debits equal credits.[/]");
            return true;
        }
        Cli.Console.MarkupLineInterpolated($"[red]{report.Discrepancies.Count} discrepancies:[/]");
        // One finding per line, never wrapped, so CI can grep it.
        foreach (var problem in report.Discrepancies) await Cli.Writer.WriteLineAsync($"discrepancy: {problem.ReplaceLineEndings(" ")}");
        return false;
    }
}
