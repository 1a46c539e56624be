using JasperFx.CommandLine;
using Spectre.Console;
using Ledger.EventStore;
using Microsoft.Extensions.DependencyInjection;

namespace Ledger.Host.Cli;

public sealed class DbInput : ILedgerInput
{
    [Description("What to do: migrate or script")]
    public string Action { get; set; } = "";
}

/// <summary>
/// The whole schema: Marten's tables and functions, then Ledger's migrations (the hash chain, the read model). The
/// stack's `db-apply`/`db-assert` see only Marten's part.
/// </summary>
[Description("Database schema: `migrate` brings it up to date (also done at start-up), `script` prints it as one SQL script", Name = "db")]
public sealed class DbCommand : LedgerCommand<DbInput>
{
    public DbCommand(CliContext cli) : base(cli)
    {
        Usage("Bring the database schema up to date: migrate").Arguments(x => x.Action);
        Usage("Print the whole schema as one SQL script, for applying by hand: script").Arguments(x => x.Action);
    }

    protected override IReadOnlyDictionary<string, Func<DbInput, Task<bool>>> Actions => new Dictionary<string, Func<DbInput, Task<bool>>>
    {
        ["migrate"] = async _ =>
        {
            await using var services = Cli.Services();
            // Always Marten's full comparison here: a start-up skips it when its fingerprint is recorded.
            var applied = await services.MigrateAsync(compareMartensSchema: true, Cli.Stop);
            Cli.Console.WriteLine(applied.Count == 0 ? "Schema is current." : $"Applied: {string.Join(", ", applied.Select(m => $"{m.Module}/{m.Name}"))}");
            return true;
        },
        ["script"] = async _ =>
        {
            // Marten's tables and functions first: Ledger's event chain is defined on them.
            await using var services = Cli.Services();
            await Cli.Writer.WriteLineAsync(services.GetRequiredService<Marten.IDocumentStore>().Storage.ToDatabaseScript());
            await Cli.Writer.WriteAsync(SchemaMigrator.Script(LedgerServices.AllMigrations));
            return true;
        },
    };
}
