using Ledger.Host;
using Ledger.Host.Cli;

if (LedgerCli.IsCommand(args)) return await LedgerCli.RunAsync(args);

var hostArgs = args is ["run", .. var rest] ? rest : args;
var app = LedgerApi.Build(hostArgs);
try
{
    if (await DatabaseWait.ThenMigrateAsync(app, hostArgs) is { } exitCode) return exitCode;
    await app.RunAsync();
    return 0;
}
catch (Microsoft.Extensions.Options.OptionsValidationException e)
{
    await Console.Error.WriteLineAsync($"Ledger will not start: {e.Message}");
    return 1;
}

public partial class Program;
