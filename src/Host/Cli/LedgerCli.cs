using System.CommandLine;
using Ledger.EventStore;
using Microsoft.Extensions.DependencyInjection;
using Spectre.Console;

namespace Ledger.Host.Cli;

/// <summary>
/// The same executable as a command line: `Ledger.Host &lt;command&gt;`. Exit codes: 0 fine, 1 discrepancies, 2 usage.
/// </summary>
public static class LedgerCli
{
    private static readonly string[] Verbs = ["db", "projections", "streams", "audit", "events", "--help", "-h", "-?", "help"];

    public static bool Handles(string[] args) => args.Length > 0 && Verbs.Contains(args[0]);

    /// <param name="configuration">null: appsettings beside the executable, then environment variables.</param>
    /// <param name="console">null: the terminal. For tables, progress and messages.</param>
    /// <param name="output">null: standard output. For data (JSON lines, SQL), written as is.</param>
    public static async Task<int> RunAsync(string[] args, IConfiguration? configuration = null, IAnsiConsole? console = null, TextWriter? output = null)
    {
        console ??= StandardConsole();
        try
        {
            configuration ??= DefaultConfiguration();
        }
        catch (UsageException e)
        {
            console.WriteLine(e.Message);
            return ExitCodes.Usage;
        }
        var cli = new CliContext(configuration, console, output ?? Console.Out);
        var root = new RootCommand("Ledger: an event-sourced payment ledger. Without a command, runs the HTTP API.")
        {
            DbCommands.Create(cli),
            ProjectionCommands.Create(cli),
            StreamCommands.Create(cli),
            AuditCommands.Create(cli),
            EventCommands.Create(cli),
        };
        var parsed = root.Parse(args);
        if (parsed.Errors.Count > 0)
        {
            foreach (var error in parsed.Errors) cli.Console.MarkupLineInterpolated($"[red]{error.Message}[/]");
            cli.Console.WriteLine("See --help.");
            return ExitCodes.Usage;
        }
        try
        {
            return await parsed.InvokeAsync(new InvocationConfiguration { Output = cli.Writer, Error = cli.Writer, EnableDefaultExceptionHandler = false });
        }
        catch (UsageException e)
        {
            cli.Console.MarkupLineInterpolated($"[red]{e.Message}[/]");
            return ExitCodes.Usage;
        }
        catch (Exception e) when (e is Npgsql.NpgsqlException or TimeoutException or Ledger.Projections.Rebuild.RebuildInProgressException)
        {
            // Not a discrepancy and not a usage error: the command could not do its work at all.
            cli.Console.MarkupLineInterpolated($"[red]Could not run: {e.Message}[/]");
            return ExitCodes.CouldNotRun;
        }
    }

    /// <summary>
    /// appsettings beside the executable, then environment variables. LEDGER_PG_PORT (the port `make run` gives its
    /// PostgreSQL) moves the default connection string's port, unless ConnectionStrings__Ledger is set outright.
    /// </summary>
    private static IConfiguration DefaultConfiguration()
    {
        var environment = Environment.GetEnvironmentVariable("DOTNET_ENVIRONMENT") ?? Environment.GetEnvironmentVariable("ASPNETCORE_ENVIRONMENT") ?? "Production";
        var builder = new ConfigurationBuilder()
            .SetBasePath(AppContext.BaseDirectory)
            .AddJsonFile("appsettings.json", optional: true)
            .AddJsonFile($"appsettings.{environment}.json", optional: true)
            .AddEnvironmentVariables();
        var configuration = builder.Build();
        if (Environment.GetEnvironmentVariable("LEDGER_PG_PORT") is { Length: > 0 } port
            && Environment.GetEnvironmentVariable("ConnectionStrings__Ledger") is null
            && configuration.GetConnectionString("Ledger") is { } connectionString)
        {
            if (!int.TryParse(port, System.Globalization.CultureInfo.InvariantCulture, out var number) || number is < 1 or > 65535)
                throw new UsageException($"LEDGER_PG_PORT must be a port number, not '{port}'.");
            var moved = new Npgsql.NpgsqlConnectionStringBuilder(connectionString) { Port = number }.ConnectionString;
            builder.AddInMemoryCollection(new Dictionary<string, string?> { ["ConnectionStrings:Ledger"] = moved });
            configuration = builder.Build();
        }
        return configuration;
    }

    /// <summary>
    /// The terminal with colours and its width; into a file or a pipe (or with NO_COLOR set), plain text with no
    /// escape codes, and no wrapping, so each line of output (each finding of `audit verify`) stays one line.
    /// </summary>
    private static IAnsiConsole StandardConsole()
    {
        var redirected = Console.IsOutputRedirected;
        var plain = redirected || !string.IsNullOrEmpty(Environment.GetEnvironmentVariable("NO_COLOR"));
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Ansi = plain ? AnsiSupport.No : AnsiSupport.Detect,
            ColorSystem = plain ? ColorSystemSupport.NoColors : ColorSystemSupport.Detect,
            Interactive = redirected ? InteractionSupport.No : InteractionSupport.Detect,
            Out = new AnsiConsoleOutput(Console.Out),
        });
        if (redirected) console.Profile.Width = short.MaxValue;
        return console;
    }
}

/// <summary>What every command needs: where the database is, and where to write.</summary>
public sealed class CliContext(IConfiguration configuration, IAnsiConsole console, TextWriter output)
{
    public IAnsiConsole Console { get; } = console;
    public TextWriter Writer { get; } = output;

    public ServiceProvider Services() =>
        new ServiceCollection().AddLogging().AddLedgerStore(configuration).BuildServiceProvider();

    public static Command Group(string name, string description, params Command[] subcommands)
    {
        var group = new Command(name, description);
        foreach (var sub in subcommands) group.Subcommands.Add(sub);
        group.SetAction(int (_) => throw new UsageException(
            $"'{name}' needs a subcommand: {string.Join(", ", subcommands.Select(c => c.Name))}. See --help."));
        return group;
    }
}

/// <summary>The command line was well-formed but its values are not (exit 2).</summary>
public sealed class UsageException(string message) : Exception(message);

public static class ExitCodes
{
    public const int Ok = 0;
    public const int Discrepancies = 1;
    public const int Usage = 2;
    /// <summary>The database could not be reached, or another rebuild holds the lock. An extension of the specified 0/1/2: see docs/operations.md.</summary>
    public const int CouldNotRun = 3;
}

public static class DbCommands
{
    public static Command Create(CliContext cli)
    {
        var migrate = new Command("migrate", "Bring the database schema up to date (also done at start-up).");
        migrate.SetAction(async (_, ct) =>
        {
            await using var services = cli.Services();
            var applied = await services.MigrateAsync(ct);
            cli.Console.WriteLine(applied.Count == 0 ? "Schema is current." : $"Applied: {string.Join(", ", applied.Select(m => $"{m.Module}/{m.Name}"))}");
            return ExitCodes.Ok;
        });
        var script = new Command("script", "Print the whole schema as one SQL script, for applying by hand.");
        script.SetAction(_ =>
        {
            // Marten's tables and functions first: Ledger's event chain is defined on them.
            using var services = cli.Services();
            cli.Writer.WriteLine(services.GetRequiredService<Marten.IDocumentStore>().Storage.ToDatabaseScript());
            cli.Writer.Write(SchemaMigrator.Script(LedgerServices.AllMigrations));
            return ExitCodes.Ok;
        });
        return CliContext.Group("db", "Database schema.", migrate, script);
    }
}
