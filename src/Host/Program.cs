using Ledger.Host;
using Ledger.Host.Cli;

if (LedgerCli.Handles(args)) return await LedgerCli.RunAsync(args);

var app = LedgerApi.Build(args);
await app.Services.MigrateAsync();
await app.RunAsync();
return 0;

public partial class Program;
