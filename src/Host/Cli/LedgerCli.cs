using System.Reflection;
using JasperFx.CommandLine;
using JasperFx.CommandLine.Help;
using Ledger.EventStore;
using Microsoft.Extensions.DependencyInjection;
using Spectre.Console;

namespace Ledger.Host.Cli;

/// <summary>
/// The same executable as a command line: `Ledger.Host &lt;command&gt;`. It is the JasperFx command line that Marten and
/// Wolverine bring (`help`, `describe`, `codegen`, `db-apply`, `db-assert`, `resources`, ...) with Ledger's verbs
/// (`db`, `projections`, `streams`, `audit`, `events`) as commands of it. Ledger's `projections` replaces the one
/// JasperFx.Events brings (Marten's async daemon, which Ledger does not run), and Ledger's `describe` replaces the
/// built-in one, which prints every configuration value, secrets included.
/// Exit codes: 0 fine, 1 discrepancies, 2 usage, 3 could not run. JasperFx by itself answers a usage error with the
/// usage and exit 0 or 1; this runner keeps the documented 2.
/// </summary>
public static class LedgerCli
{
    /// <summary>Where the stack's commands are: JasperFx's own, Weasel's (db-*), Marten's and Wolverine's.</summary>
    private static readonly Assembly[] StackAssemblies =
    [
        typeof(JasperFx.CommandLine.Commands.RunCommand).Assembly,
        typeof(Weasel.CommandLine.ApplyCommand).Assembly,
        typeof(JasperFx.Events.IEvent).Assembly,
        typeof(Marten.IDocumentStore).Assembly,
        typeof(Wolverine.IMessageBus).Assembly,
    ];

    /// <summary>Ledger's commands, registered after the stack's so that a clashing name is ours.</summary>
    private static readonly Type[] LedgerCommands =
        [typeof(DbCommand), typeof(ProjectionsCommand), typeof(StreamsCommand), typeof(AuditCommand), typeof(EventsCommand), typeof(WebhooksCommand), typeof(DescribeCommand)];

    private static readonly string[] HelpFlags = ["--help", "-h", "-?"];

    /// <summary>
    /// Whether these arguments are a command. Without one (or with `run`, or only host options such as --urls) the
    /// executable serves the HTTP API.
    /// </summary>
    public static bool IsCommand(string[] args) =>
        args is [var first, ..] && first != "run" && (!first.StartsWith('-') || HelpFlags.Contains(first));

    /// <param name="configuration">null: appsettings beside the executable, then environment variables.</param>
    /// <param name="console">null: the terminal. For tables, progress and messages.</param>
    /// <param name="output">null: standard output. For data (JSON lines, SQL), written as is.</param>
    public static async Task<int> RunAsync(string[] args, IConfiguration? configuration = null, IAnsiConsole? console = null, TextWriter? output = null)
    {
        if (console is null)
        {
            console = StandardConsole();
            // JasperFx's own commands (help, describe, codegen, ...) write to Spectre's process-wide console: the same
            // plain-text rules apply to them. Only for the real terminal, never for a caller's console (tests run in parallel).
            AnsiConsole.Console = console;
        }
        try
        {
            configuration ??= DefaultConfiguration();
        }
        catch (UsageException e)
        {
            console.WriteLine(e.Message);
            return ExitCodes.Usage;
        }
        using var tracing = Observability.Telemetry.CommandLineTracing(configuration);
        using var span = tracing is null ? null : Ledger.EventStore.LedgerActivity.Start("ledger.cli");
        span?.SetTag("ledger.cli.command", string.Join(' ', args.TakeWhile(a => !a.StartsWith('-')).Take(2)));
        using var stop = new CancellationTokenSource();
        ConsoleCancelEventHandler onCancel = (_, e) => { e.Cancel = true; stop.Cancel(); };
        Console.CancelKeyPress += onCancel;
        try
        {
            var cli = new CliContext(configuration, console, output ?? Console.Out, stop.Token);
            var factory = new CommandFactory(new LedgerCommandCreator(cli));
            foreach (var assembly in StackAssemblies) factory.RegisterCommands(assembly);
            foreach (var command in LedgerCommands) factory.RegisterCommand(command);
            // The stack's commands that need the application (describe, codegen, db-apply, resources, ...) get the HTTP
            // host as `make run` builds it, with this command line's configuration.
            factory.ConfigureRun = run =>
            {
                if (run.Input is IHostBuilderInput needsHost) needsHost.HostBuilder = new LedgerHostBuilder(configuration);
            };

            var askedForHelp = args.Length > 0 && (args[0] is "help" or "?" || args.Any(HelpFlags.Contains));
            // `projections rebuild --help` is `help projections`, `--help` is `help` (JasperFx has no --help flag of its own).
            if (askedForHelp && args[0] is not ("help" or "?")) args = HelpFlags.Contains(args[0]) ? ["help"] : ["help", args[0]];
            var run = factory.BuildRun(args);
            if (run.Input is HelpInput help) help.AppName = "Ledger.Host";
            if (run.Command is HelpCommand)
            {
                // Asked for, or JasperFx could not parse the command line (it printed why): the usage, then exit 2.
                await run.Execute();
                return askedForHelp ? ExitCodes.Ok : ExitCodes.Usage;
            }
            return await run.Execute() ? ExitCodes.Ok : ExitCodes.Discrepancies;
        }
        catch (UsageException e)
        {
            console.MarkupLineInterpolated($"[red]{e.Message}[/]");
            return ExitCodes.Usage;
        }
        catch (Exception e)
        {
            // Not a discrepancy and not a usage error: the command could not do its work at all (no database, a rebuild
            // holding the lock, configuration the host will not start with).
            // PostgreSQL's own words on one line: Npgsql's Message adds the statement's POSITION and more on lines of their own.
            var message = e is Npgsql.PostgresException pg ? $"{pg.MessageText} (SQLSTATE {pg.SqlState})" : e.Message;
            console.MarkupLineInterpolated($"[red]Could not run: {(e is Npgsql.NpgsqlException or TimeoutException or Ledger.Projections.Rebuild.RebuildInProgressException ? "" : e.GetType().Name + ": ")}{message}[/]");
            return ExitCodes.CouldNotRun;
        }
        finally
        {
            Console.CancelKeyPress -= onCancel;
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

/// <summary>What every Ledger command needs: where the database is, where to write, and Ctrl-C.</summary>
public sealed class CliContext(IConfiguration configuration, IAnsiConsole console, TextWriter output, CancellationToken stop)
{
    public IConfiguration Configuration { get; } = configuration;
    public IAnsiConsole Console { get; } = console;
    public TextWriter Writer { get; } = output;
    public CancellationToken Stop { get; } = stop;

    /// <summary>The store alone (no HTTP host, no Wolverine): what Ledger's commands work with.</summary>
    public ServiceProvider Services() =>
        new ServiceCollection().AddLogging().AddLedgerStore(Configuration).BuildServiceProvider();
}

/// <summary>
/// A Ledger command: one verb with its actions (`projections list|rebuild`), given the <see cref="CliContext"/> by
/// <see cref="LedgerCommandCreator"/>. JasperFx checks the shape of the command line; the action and the values are
/// checked here, a wrong one being a <see cref="UsageException"/> (exit 2).
/// </summary>
public abstract class LedgerCommand<TInput>(CliContext cli) : JasperFxAsyncCommand<TInput> where TInput : ILedgerInput
{
    protected CliContext Cli { get; } = cli;

    /// <summary>Each action's name and what runs it (true: exit 0, false: exit 1).</summary>
    protected abstract IReadOnlyDictionary<string, Func<TInput, Task<bool>>> Actions { get; }

    public override Task<bool> Execute(TInput input) =>
        Actions.TryGetValue(input.Action, out var action)
            ? action(input)
            : throw new UsageException($"'{CommandFactory.CommandNameFor(GetType())} {input.Action}' is not a command: {string.Join(", ", Actions.Keys)}. See --help.");
}

/// <summary>
/// A Ledger command's input: its first property is the action, `public string Action { get; set; }`. (JasperFx takes
/// positional arguments in the order the input type declares them, its own properties before a base class's.)
/// </summary>
public interface ILedgerInput
{
    string Action { get; }
}

/// <summary>Ledger's commands are made with the <see cref="CliContext"/>; the stack's as JasperFx makes them.</summary>
internal sealed class LedgerCommandCreator(CliContext cli) : ICommandCreator
{
    private readonly ActivatorCommandCreator _stack = new();

    public IJasperFxCommand CreateCommand(Type commandType) =>
        commandType.GetConstructor([typeof(CliContext)]) is { } withContext
            ? (IJasperFxCommand)withContext.Invoke([cli])
            : _stack.CreateCommand(commandType);

    public object CreateModel(Type modelType) => _stack.CreateModel(modelType);
}

/// <summary>
/// The host the stack's commands ask for: Ledger's HTTP host, built (not started) when the command builds it, with the
/// command line's connection string. Like JasperFx's own pre-built host, it takes no further configuration.
/// </summary>
internal sealed class LedgerHostBuilder(IConfiguration configuration) : IHostBuilder
{
    public IDictionary<object, object> Properties { get; } = new Dictionary<object, object>();

    public IHost Build() => LedgerApi.Build([], new Dictionary<string, string?>
    {
        ["ConnectionStrings:Ledger"] = configuration.GetConnectionString("Ledger"),
        // The command's output, not the host's start-up lines.
        ["Serilog:MinimumLevel:Default"] = "Warning",
    });

    public IHostBuilder ConfigureHostConfiguration(Action<IConfigurationBuilder> configureDelegate) => Refuse();
    public IHostBuilder ConfigureAppConfiguration(Action<HostBuilderContext, IConfigurationBuilder> configureDelegate) => Refuse();
    public IHostBuilder ConfigureServices(Action<HostBuilderContext, IServiceCollection> configureDelegate) => Refuse();
    public IHostBuilder UseServiceProviderFactory<TContainerBuilder>(IServiceProviderFactory<TContainerBuilder> factory) where TContainerBuilder : notnull => Refuse();
    public IHostBuilder UseServiceProviderFactory<TContainerBuilder>(Func<HostBuilderContext, IServiceProviderFactory<TContainerBuilder>> factory) where TContainerBuilder : notnull => Refuse();
    public IHostBuilder ConfigureContainer<TContainerBuilder>(Action<HostBuilderContext, TContainerBuilder> configureDelegate) => Refuse();

    private static IHostBuilder Refuse() =>
        throw new UsageException("This flag changes how the host is built; set it in configuration (appsettings, environment variables) instead.");
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
