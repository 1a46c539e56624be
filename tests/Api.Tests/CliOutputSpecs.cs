using Ledger.Host.Cli;
using Shouldly;
using Xunit;

namespace Ledger.Api.Tests;

/// <summary>The real command line, its output going into a pipe as in CI: plain text, one finding per line.</summary>
public sealed class CliOutputSpecs(LedgerApp app) : IClassFixture<LedgerApp>
{
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Into_a_pipe_audit_verify_prints_no_escape_codes_and_one_unwrapped_line_per_finding(bool noColor)
    {
        var edited = await Cli.SomePaymentWithARefund(app);
        var deleted = await Cli.SomePaymentWithARefund(app);
        await Cli.Tamper(app, """update ledger.mt_events set data = replace(data::text, '"amount": 100', '"amount": 10')::jsonb where stream_id = $1 and version = 3""", edited);
        await Cli.Tamper(app, "delete from ledger.mt_events where stream_id = $1 and version = 2", deleted);

        var (exit, stdout) = await Cli.RunProcess(new() { ["ConnectionStrings__Ledger"] = app.Database.ConnectionString, ["NO_COLOR"] = noColor ? "1" : null },
            "audit", "verify");

        exit.ShouldBe(ExitCodes.Discrepancies, stdout);
        stdout.ShouldNotContain('\u001b'); // no ANSI escape codes into a pipe
        var findings = stdout.Split('\n').Where(l => l.StartsWith("discrepancy: ", StringComparison.Ordinal)).ToList();
        findings.ShouldContain(l => l.Contains($"stream {edited} version 3: hash does not match its contents"));
        findings.ShouldContain(l => l.Contains($"stream {deleted} version 3: expected version 2 here"));
        // The long read-model lines are not wrapped at 80 columns: each is whole on its line.
        findings.ShouldContain(l => l.Length > 120 && l.Contains(" but the log implies ", StringComparison.Ordinal));
        stdout.Split('\n').Where(l => l.Length > 0 && !l.StartsWith("discrepancy: ", StringComparison.Ordinal))
            .ShouldAllBe(l => l.StartsWith("Checked ") || l.EndsWith("discrepancies:") || l.StartsWith("verifying"));
    }

    [Fact]
    public async Task Without_a_connection_string_the_command_line_follows_LEDGER_PG_PORT_like_make_run()
    {
        var port = HostProcess.FreePort();

        var (exit, stdout) = await Cli.RunProcess(new() { ["LEDGER_PG_PORT"] = port.ToString(System.Globalization.CultureInfo.InvariantCulture) },
            "projections", "list");

        exit.ShouldBe(ExitCodes.CouldNotRun, stdout);
        stdout.ShouldContain($"127.0.0.1:{port}"); // nothing listens there: the message names the port it tried
    }

    [Fact]
    public async Task A_LEDGER_PG_PORT_that_is_not_a_port_is_a_usage_error()
    {
        var (exit, stdout) = await Cli.RunProcess(new() { ["LEDGER_PG_PORT"] = "fifty" }, "projections", "list");

        exit.ShouldBe(ExitCodes.Usage, stdout);
        stdout.ShouldContain("LEDGER_PG_PORT");
    }
}
