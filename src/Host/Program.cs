using JasperFx;
using Ledger.Host;
using Ledger.Host.Cli;

if (LedgerCli.Handles(args)) return await LedgerCli.RunAsync(args);
// The JasperFx command line that Wolverine and Marten bring (codegen, describe, ...): `make codegen` uses it.
if (args is ["codegen", ..]) return await LedgerApi.Build([]).RunJasperFxCommands(args);

var app = LedgerApi.Build(args);
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
