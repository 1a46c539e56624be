using Ledger.Host;
using Ledger.Host.Cli;

// Without a command (or with `run`, or only host options such as --urls): the HTTP API. Otherwise the command line.
var serve = args is [] or ["run", ..] || (args[0].StartsWith('-') && args[0] is not ("--help" or "-h" or "-?"));
if (!serve) return await LedgerCli.RunAsync(args);

var app = LedgerApi.Build(args is ["run", .. var rest] ? rest : args);
try
{
    await app.Services.MigrateAsync();
    await app.RunAsync();
    return 0;
}
catch (Microsoft.Extensions.Options.OptionsValidationException e)
{
    await Console.Error.WriteLineAsync($"Ledger will not start: {e.Message}");
    return 1;
}

public partial class Program;
