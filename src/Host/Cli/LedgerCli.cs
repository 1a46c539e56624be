using System.CommandLine;
using Ledger.EventStore;
using Microsoft.Extensions.DependencyInjection;

namespace Ledger.Host.Cli;

/// <summary>
/// The same executable as a command line: `Ledger.Host &lt;command&gt;`. Exit codes: 0 fine, 1 discrepancies, 2 usage.
/// </summary>
public static class LedgerCli
{
    private static readonly string[] Verbs = ["db", "projections", "streams", "audit", "events", "--help", "-h", "-?", "help"];

    public static bool Handles(string[] args) => args.Length > 0 && Verbs.Contains(args[0]);

    public static async Task<int> RunAsync(string[] args)
    {
        var root = new RootCommand("Ledger: an event-sourced payment ledger. Without a command, runs the HTTP API.");
        root.Subcommands.Add(Db());

        var parsed = root.Parse(args);
        if (parsed.Errors.Count > 0)
        {
            foreach (var error in parsed.Errors) await Console.Error.WriteLineAsync(error.Message);
            await Console.Error.WriteLineAsync("See --help.");
            return ExitCodes.Usage;
        }
        return await parsed.InvokeAsync();
    }

    private static Command Db()
    {
        var migrate = new Command("migrate", "Bring the database schema up to date (also done at start-up).");
        migrate.SetAction(async (_, ct) =>
        {
            await using var services = Services();
            var applied = await services.GetRequiredService<SchemaMigrator>().MigrateAsync(LedgerServices.AllMigrations, ct);
            Console.WriteLine(applied.Count == 0 ? "Schema is current." : $"Applied: {string.Join(", ", applied.Select(m => $"{m.Module}/{m.Name}"))}");
            return ExitCodes.Ok;
        });
        var script = new Command("script", "Print the whole schema as one SQL script, for applying by hand.");
        script.SetAction(_ =>
        {
            Console.Write(SchemaMigrator.Script(LedgerServices.AllMigrations));
            return ExitCodes.Ok;
        });
        var db = new Command("db", "Database schema.") { migrate, script };
        db.SetAction(_ => Usage(db));
        return db;
    }

    private static int Usage(Command command)
    {
        Console.Error.WriteLine($"'{command.Name}' needs a subcommand: {string.Join(", ", command.Subcommands.Select(c => c.Name))}. See --help.");
        return ExitCodes.Usage;
    }

    /// <summary>The store's services, configured like the host: appsettings, then environment variables.</summary>
    internal static ServiceProvider Services()
    {
        var environment = Environment.GetEnvironmentVariable("DOTNET_ENVIRONMENT") ?? Environment.GetEnvironmentVariable("ASPNETCORE_ENVIRONMENT") ?? "Production";
        var configuration = new ConfigurationBuilder()
            .SetBasePath(AppContext.BaseDirectory)
            .AddJsonFile("appsettings.json", optional: true)
            .AddJsonFile($"appsettings.{environment}.json", optional: true)
            .AddEnvironmentVariables()
            .Build();
        return new ServiceCollection().AddLogging().AddLedgerStore(configuration).BuildServiceProvider();
    }
}

public static class ExitCodes
{
    public const int Ok = 0;
    public const int Discrepancies = 1;
    public const int Usage = 2;
}
