using Ledger.Host.Cli;
using Microsoft.Extensions.Configuration;
using Shouldly;
using Spectre.Console;
using Xunit;

namespace Ledger.Api.Tests;

/// <summary>Runs the command line in-process against a test database and captures what it prints.</summary>
public static class Cli
{
    public static Task<(int ExitCode, string Output)> Run(LedgerApp app, params string[] args) => Run(app.Database.ConnectionString, args);

    public static async Task<(int ExitCode, string Output)> Run(string connectionString, params string[] args)
    {
        var output = new StringWriter();
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Out = new AnsiConsoleOutput(output), Ansi = AnsiSupport.No, ColorSystem = ColorSystemSupport.NoColors, Interactive = InteractionSupport.No,
        });
        console.Profile.Width = 250;
        var configuration = new ConfigurationBuilder()
            .AddInMemoryCollection(new Dictionary<string, string?> { ["ConnectionStrings:Ledger"] = connectionString })
            .Build();
        var exit = await LedgerCli.RunAsync(args, configuration, console, output);
        return (exit, output.ToString());
    }

    /// <summary>
    /// The real executable in a child process, its output into a pipe: for what only a whole process shows (JasperFx's
    /// own commands and help write to the process-wide console). Variables set to null are removed from its environment.
    /// </summary>
    public static async Task<(int Exit, string Stdout)> RunProcess(Dictionary<string, string?> environment, params string[] args)
    {
        var variables = new Dictionary<string, string?>
        {
            ["ConnectionStrings__Ledger"] = null, ["NO_COLOR"] = null,
            ["TERM"] = "xterm-256color", // a terminal type that would get colours, were stdout a terminal
        };
        foreach (var (k, v) in environment) variables[k] = v;
        var run = await ChildProcess.RunAsync("dotnet", [Path.Combine(AppContext.BaseDirectory, "Ledger.Host.dll"), .. args], variables, TimeSpan.FromSeconds(60));
        return (run.Exit, run.Output);
    }

    /// <summary>docs/events.md's script (scripts/verify-export.py) on an export file: its exit code and report.</summary>
    public static async Task<(int Exit, string Report)> VerifyExport(string file)
    {
        var run = await ChildProcess.RunAsync("python3", [Path.Combine(ChildProcess.RepositoryRoot(), "scripts", "verify-export.py"), file]);
        return (run.Exit, run.Stdout + run.Stderr);
    }

    public static async Task Tamper(LedgerApp app, string sql, params object[] parameters)
    {
        // What a privileged insider could do: switch off the immutability trigger and change history.
        await app.Database.ExecuteAsync("alter table ledger.mt_events disable trigger events_are_immutable");
        await app.Database.ExecuteAsync(sql, parameters);
        await app.Database.ExecuteAsync("alter table ledger.mt_events enable trigger events_are_immutable");
    }

    public static async Task<string> SomePaymentWithARefund(LedgerApp app)
    {
        var acme = app.Client(LedgerApp.Acme);
        var id = (await (await acme.Charge(Requests.Charge(amount: 900))).Json()).Str("id");
        await acme.PostJson($"/v1/payments/{id}/refunds", new System.Text.Json.Nodes.JsonObject { ["amount"] = 100 }, Requests.NewKey());
        await acme.Charge(Requests.Charge(card: "4000000000000002"));
        await app.Client(LedgerApp.Globex).Charge(Requests.Charge(currency: "JPY"));
        return id;
    }
}

public sealed class CliSpecs(LedgerApp app) : IClassFixture<LedgerApp>
{
    [Fact]
    public async Task Db_migrate_builds_a_new_database_and_a_second_run_changes_nothing()
    {
        var fresh = new Ledger.Testing.TestDatabase();
        await fresh.InitializeAsync();

        var (first, output) = await Cli.Run(fresh.ConnectionString, "db", "migrate");
        var (second, again) = await Cli.Run(fresh.ConnectionString, "db", "migrate");

        first.ShouldBe(ExitCodes.Ok, output); // it used to fail here: the fingerprint table did not exist yet
        second.ShouldBe(ExitCodes.Ok, again);
        (await fresh.ScalarAsync<long>("select count(*) from marten_schema_fingerprints")).ShouldBe(1);
        (await fresh.ScalarAsync<bool>("select to_regclass('ledger.log_digest_nodes') is not null")).ShouldBeTrue();
    }

    [Fact]
    public async Task Audit_verify_passes_on_an_untouched_ledger()
    {
        await Cli.SomePaymentWithARefund(app);

        var (exit, output) = await Cli.Run(app, "audit", "verify");

        exit.ShouldBe(ExitCodes.Ok, output);
        output.ShouldContain("OK: hash chains intact");
    }

    [Fact]
    public async Task Streams_replay_prints_the_events_then_the_folded_payment_at_any_version()
    {
        var id = await Cli.SomePaymentWithARefund(app);

        var (exit, whole) = await Cli.Run(app, "streams", "replay", id);
        var (_, first) = await Cli.Run(app, "streams", "replay", id, "--at-version", "1");

        exit.ShouldBe(ExitCodes.Ok, whole);
        whole.ShouldContain("payment_requested");
        whole.ShouldContain("payment_refunded");
        whole.ShouldContain("\"status\": \"partially_refunded\"");
        first.ShouldContain("\"status\": \"pending\"");
        first.ShouldNotContain("payment_charged");
    }

    [Fact]
    public async Task Events_export_writes_the_log_as_json_lines()
    {
        await Cli.SomePaymentWithARefund(app);
        var file = Path.Combine(Path.GetTempPath(), $"ledger-export-{Guid.NewGuid():N}.jsonl");

        var total = await app.Database.ScalarAsync<long>("select count(*) from ledger.events");
        // Export is commit-safe: while other test classes hold transactions open it may stop short. Export again until complete.
        string[] lines = [];
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (lines.Length < total && DateTime.UtcNow < deadline)
        {
            var (exit, output) = await Cli.Run(app, "events", "export", "--out", file);
            exit.ShouldBe(ExitCodes.Ok, output);
            lines = await File.ReadAllLinesAsync(file);
        }
        lines.Length.ShouldBe((int)total);
        lines.Select(Sequence).ShouldBeUnique();
        // An auditor recomputes every hash from the export alone, with the script docs/events.md shows (Python's standard
        // library: an implementation of the rule that shares nothing with Ledger's).
        var (verified, report) = await Cli.VerifyExport(file);
        verified.ShouldBe(0, report);
        report.Split('\n', StringSplitOptions.RemoveEmptyEntries).ShouldAllBe(l => l.EndsWith(" ok"));
        report.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length.ShouldBe(lines.Length);
        // ... and the same script sees an edit.
        var edited = file + ".edited";
        await File.WriteAllLinesAsync(edited, lines.Select(l => l.Replace("\"amount\": ", "\"amount\": 1")));
        var (tampered, tamperedReport) = await Cli.VerifyExport(edited);
        tampered.ShouldBe(1, tamperedReport);
        tamperedReport.ShouldContain("MISMATCH");
        File.Delete(edited);
        total.ShouldBeGreaterThanOrEqualTo(3); // a payment, its charge and its refund at least

        // From a position on, to stdout: exactly the events after it, nothing else on stdout.
        var (tailExit, tail) = await Cli.Run(app, "events", "export", "--after", Sequence(lines[^3]).ToString(System.Globalization.CultureInfo.InvariantCulture));
        tailExit.ShouldBe(ExitCodes.Ok, tail);
        var tailLines = tail.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        tailLines.Select(Sequence).ShouldBe([Sequence(lines[^2]), Sequence(lines[^1])]);
        File.Delete(file);
    }

    private static long Sequence(string exportedLine) => System.Text.Json.JsonDocument.Parse(exportedLine).RootElement.GetProperty("sequence").GetInt64();

    [Fact]
    public async Task Projections_list_names_every_projection_with_its_rows()
    {
        await Cli.SomePaymentWithARefund(app);

        var (exit, output) = await Cli.Run(app, "projections", "list");

        exit.ShouldBe(ExitCodes.Ok, output);
        foreach (var name in new[] { "payment_views", "receipts", "metrics", "ledger" }) output.ShouldContain(name);
    }

    [Theory]
    [InlineData("projections", "rebuild", "no_such_projection")]
    [InlineData("streams", "replay", "pay_x", "--at-version", "1", "--at", "2026-01-01T00:00:00Z")]
    [InlineData("streams", "replay", "pay_x", "--at", "tuesday")]
    [InlineData("streams", "replay")]
    [InlineData("projections")]
    [InlineData("audit", "verify", "--frobnicate")]
    [InlineData("audit", "prove")]
    [InlineData("projections", "list", "payment_views")]
    [InlineData("streams", "replay", "pay_x", "--at-version", "many")]
    [InlineData("events", "import")]
    [InlineData("events", "export", "--in", "export.jsonl")]
    [InlineData("frobnicate")]
    public async Task Usage_errors_exit_2(params string[] args)
    {
        // In a process of its own: JasperFx parses the command line there as it does for an operator.
        var (exit, output) = await Cli.RunProcess(new() { ["ConnectionStrings__Ledger"] = app.Database.ConnectionString }, args);
        exit.ShouldBe(ExitCodes.Usage, output);
    }

    [Fact]
    public async Task A_command_that_cannot_reach_the_database_says_so_and_exits_3()
    {
        var (exit, output) = await Cli.Run("Host=127.0.0.1;Port=1;Username=postgres;Database=nowhere;Timeout=2", "audit", "verify");

        exit.ShouldBe(ExitCodes.CouldNotRun, output);
        output.ShouldContain("Could not run");
    }

    [Fact]
    public async Task A_database_error_is_said_on_one_line_in_postgresql_s_words_and_exits_3()
    {
        var broken = new Ledger.Testing.TestDatabase();
        await broken.InitializeAsync();
        (await Cli.Run(broken.ConnectionString, "db", "migrate")).ExitCode.ShouldBe(ExitCodes.Ok);
        await broken.ExecuteAsync("drop table receipts cascade");

        var (exit, output) = await Cli.Run(broken.ConnectionString, "audit", "verify");

        exit.ShouldBe(ExitCodes.CouldNotRun, output);
        output.Trim().ShouldBe("Could not run: relation \"receipts\" does not exist (SQLSTATE 42P01)");
    }

    [Fact]
    public async Task A_rebuild_will_not_run_beside_another()
    {
        await using var other = app.Database.CreateDataSource();
        await using var connection = await other.OpenConnectionAsync();
        await using (var hold = new Npgsql.NpgsqlCommand("select pg_advisory_lock(7240002)", connection)) await hold.ExecuteNonQueryAsync();

        var (exit, output) = await Cli.Run(app, "projections", "rebuild");

        exit.ShouldBe(ExitCodes.CouldNotRun, output);
        output.ShouldContain("Another projection rebuild is running");
    }

    [Fact]
    public async Task Help_lists_Ledgers_commands_beside_the_ones_Marten_and_Wolverine_bring()
    {
        var (exit, output) = await Cli.RunProcess([], "help");

        exit.ShouldBe(ExitCodes.Ok, output);
        var listed = output.Split('\n').Select(l => l.Trim().Split(' ')[0]).ToHashSet();
        foreach (var ours in new[] { "db", "projections", "streams", "audit", "events" }) listed.ShouldContain(ours, output);
        foreach (var stack in new[] { "describe", "codegen", "db-apply", "db-assert", "resources", "check-env" }) listed.ShouldContain(stack, output);
        // Ledger's `projections`, not JasperFx.Events' (which drives Marten's async daemon).
        output.ShouldContain("or `rebuild` them from the log while the API serves");
    }

    [Theory]
    [InlineData("projections", "list", "rebuild")]
    [InlineData("streams", "replay", "--at-version")]
    [InlineData("audit", "verify", "discrepancy:")]
    [InlineData("events", "export", "--after")]
    [InlineData("events", "import", "--in")]
    [InlineData("db", "script", "migrate")]
    public async Task Every_command_has_help_naming_its_actions_and_flags(string command, string action, string shown)
    {
        var (exit, output) = await Cli.RunProcess([], command, action, "--help");

        exit.ShouldBe(ExitCodes.Ok, output);
        output.ShouldContain($"{command} <action>");
        output.ShouldContain(shown);
        output.ShouldNotContain("Invalid usage");
    }

    [Fact]
    public async Task Describe_shows_the_application_Marten_and_Wolverine_with_every_secret_masked()
    {
        const string password = "pw-never-printed-8841";
        var connectionString = new Npgsql.NpgsqlConnectionStringBuilder(app.Database.ConnectionString) { Password = password }.ConnectionString;

        var (exit, output) = await Cli.RunProcess(new()
        {
            ["ConnectionStrings__Ledger"] = connectionString, ["ASPNETCORE_ENVIRONMENT"] = "Development",
            ["Ledger__Secrets__FingerprintKey"] = "fingerprint-key-never-printed-5523",
            ["Ledger__ApiKeys__3__Key"] = "sk_live_never_printed_7710", ["Ledger__ApiKeys__3__Role"] = "auditor",
            ["Ledger__Webhooks__SigningSecret"] = "whsec_never_printed_2290",
            ["Ledger__Secrets__WebhookKey"] = "webhook-key-never-printed-0123456789-4471",
            ["Ledger__RabbitMq__Uri"] = "amqp://ledger:broker_password_never_printed_8812@127.0.0.1:5672/",
        }, "describe");

        exit.ShouldBe(ExitCodes.Ok, output);
        foreach (var part in new[] { "About Ledger.Host", "IConfiguration Preview", "Marten", "Wolverine", "/v1/payments" }) output.ShouldContain(part);
        output.ShouldContain("Ledger:ApiKeys:3:Role");
        foreach (var secret in new[] { password, "fingerprint-key-never-printed-5523", "sk_live_never_printed_7710", "whsec_never_printed_2290", "sk_test_acme", "dev-only-fingerprint-key",
                     "webhook-key-never-printed", "dev-only-webhook-key", "broker_password_never_printed_8812" })
            output.ShouldNotContain(secret);
        output.ShouldContain("Password=***");
        output.ShouldContain("amqp://ledger:***@127.0.0.1:5672/");
    }

    [Fact]
    public async Task The_stacks_db_assert_finds_Martens_schema_as_configured()
    {
        var (exit, output) = await Cli.RunProcess(new() { ["ConnectionStrings__Ledger"] = app.Database.ConnectionString, ["ASPNETCORE_ENVIRONMENT"] = "Development" },
            "db-assert");

        exit.ShouldBe(ExitCodes.Ok, output);
        output.ShouldContain("No database differences detected");
    }

    [Fact]
    public async Task Db_script_prints_the_schema()
    {
        var (exit, output) = await Cli.Run(app, "db", "script");
        exit.ShouldBe(ExitCodes.Ok);
        output.ShouldContain("ledger.mt_events");
        output.ShouldContain("create or replace function ledger.chain_event()");
        output.ShouldContain("create table if not exists payment_views");
    }
}

public sealed class EditedEventSpecs(LedgerApp app) : IClassFixture<LedgerApp>
{
    [Fact]
    public async Task Editing_one_events_data_in_SQL_fails_audit_verify_naming_the_stream_and_version()
    {
        var id = await Cli.SomePaymentWithARefund(app);
        await Cli.Tamper(app, """update ledger.mt_events set data = replace(data::text, '"amount": 100', '"amount": 10')::jsonb where stream_id = $1 and version = 3""", id);

        var (exit, output) = await Cli.Run(app, "audit", "verify");

        exit.ShouldBe(ExitCodes.Discrepancies, output);
        output.ShouldContain($"stream {id} version 3: hash does not match");
    }
}

public sealed class UnchainedEventSpecs(LedgerApp app) : IClassFixture<LedgerApp>
{
    [Fact]
    public async Task An_event_written_around_the_chain_trigger_fails_audit_verify_naming_it()
    {
        var id = (await (await app.Client(LedgerApp.Acme).Charge()).Json()).Str("id");
        (await Cli.Run(app, "audit", "verify")).ExitCode.ShouldBe(ExitCodes.Ok);

        // An insider writes straight into Marten's table with the chain trigger off: the event has no chain row, so
        // no reader of the log (and no fold) sees it. The audit must.
        await app.Database.ExecuteAsync("alter table ledger.mt_events disable trigger mt_events_chain");
        await app.Database.ExecuteAsync("""
            insert into ledger.mt_events (seq_id, id, stream_id, version, data, type, timestamp, tenant_id, is_archived)
            select nextval('ledger.mt_events_sequence'), gen_random_uuid(), stream_id, 3, data, 'payment_refunded', now(), tenant_id, false
            from ledger.mt_events where stream_id = $1 and version = 2
            """, id);
        await app.Database.ExecuteAsync("alter table ledger.mt_events enable trigger mt_events_chain");

        var (exit, output) = await Cli.Run(app, "audit", "verify");

        exit.ShouldBe(ExitCodes.Discrepancies, output);
        output.ShouldContain($"stream {id} version 3: the event has no chain row");
    }
}

public sealed class DeletedEventSpecs(LedgerApp app) : IClassFixture<LedgerApp>
{
    [Fact]
    public async Task Deleting_an_event_fails_audit_verify_naming_the_stream()
    {
        var id = await Cli.SomePaymentWithARefund(app);
        await Cli.Tamper(app, "delete from ledger.mt_events where stream_id = $1 and version = 2", id);

        var (exit, output) = await Cli.Run(app, "audit", "verify");

        exit.ShouldBe(ExitCodes.Discrepancies, output);
        output.ShouldContain($"stream {id} version 3: expected version 2");
    }

    [Fact]
    public async Task Deleting_a_streams_last_event_is_caught_by_the_stream_version()
    {
        var id = (await (await app.Client(LedgerApp.Acme).Charge()).Json()).Str("id");
        await Cli.Tamper(app, "delete from ledger.mt_events where stream_id = $1 and version = 2", id);

        var (exit, output) = await Cli.Run(app, "audit", "verify");

        exit.ShouldBe(ExitCodes.Discrepancies, output);
        output.ShouldContain($"stream {id}: the stream is at version 2 but the log holds 1");
    }
}

public sealed class EditedReadModelSpecs(LedgerApp app) : IClassFixture<LedgerApp>
{
    [Fact]
    public async Task A_read_model_that_disagrees_with_the_log_fails_audit_verify_naming_the_row()
    {
        var id = await Cli.SomePaymentWithARefund(app);
        await app.Database.ExecuteAsync("update payment_views set amount_refunded = 0 where id = $1", id);
        await app.Database.ExecuteAsync("update ledger_balances set debits = debits + 1 where stripe = (select min(stripe) from ledger_balances)");

        var (exit, output) = await Cli.Run(app, "audit", "verify");

        exit.ShouldBe(ExitCodes.Discrepancies, output);
        output.ShouldContain($"payment_views id={id}");
        output.ShouldContain("ledger_balances");

        var (rebuilt, rebuildOutput) = await Cli.Run(app, "projections", "rebuild", "payment_views", "ledger");
        rebuilt.ShouldBe(ExitCodes.Ok, rebuildOutput);
        var (after, afterOutput) = await Cli.Run(app, "audit", "verify");
        after.ShouldBe(ExitCodes.Ok, afterOutput);
    }
}

/// <summary>`events import`: a v1 database's export carried into this log, its hash chain checked from the file alone.</summary>
public sealed class ImportSpecs(LedgerApp app) : IClassFixture<LedgerApp>
{
    [Fact]
    public async Task A_v1_export_is_imported_and_the_rebuilt_read_model_serves_it()
    {
        var file = V1Export("pay_v1_imported", amount: 900);

        var (exit, output) = await Cli.Run(app, "events", "import", "--in", file);

        exit.ShouldBe(ExitCodes.Ok, output);
        output.ShouldContain("Checked 2 events in 1 streams: every hash and link holds.");
        (await app.Database.ScalarAsync<string>(
            "select metadata->>'correlationId' from ledger.events where stream_id = $1 and version = 2", "pay_v1_imported")).ShouldBe("req_v1_2");
        (await Cli.Run(app, "projections", "rebuild")).ExitCode.ShouldBe(ExitCodes.Ok);
        var payment = await (await app.Client(LedgerApp.Acme).GetAsync("/v1/payments/pay_v1_imported")).Json();
        (payment.Str("status"), payment.GetProperty("amount").GetInt64(), payment.Str("receiptNumber")).ShouldBe(("succeeded", 900L, "ACME-V1-00000001"));
        (await Cli.Run(app, "audit", "verify")).ExitCode.ShouldBe(ExitCodes.Ok);
    }

    [Fact]
    public async Task An_export_edited_after_it_was_written_is_refused_and_nothing_is_imported()
    {
        var file = V1Export("pay_v1_edited", amount: 900);
        var lines = await File.ReadAllLinesAsync(file);
        lines[1] = lines[1].Replace("\"amount\":900", "\"amount\":90");
        await File.WriteAllLinesAsync(file, lines);

        var (exit, output) = await Cli.Run(app, "events", "import", "--in", file);

        exit.ShouldBe(ExitCodes.Discrepancies, output);
        output.ShouldContain("discrepancy: line 2: stream pay_v1_edited version 2: hash does not match its contents");
        (await app.Database.ScalarAsync<long>("select count(*) from ledger.events where stream_id = $1", "pay_v1_edited")).ShouldBe(0);
    }

    /// <summary>Two events of one payment as v1's `events export` wrote them: stored text, hashed by v1's documented rule.</summary>
    private static string V1Export(string id, long amount)
    {
        string[] data =
        [
            $$"""{"paymentId":"{{id}}","merchantId":"acme","orderId":"order-{{id}}","amount":{{amount}},"currency":"USD","card":{"brand":"visa","last4":"4242","expMonth":12,"expYear":2030,"fingerprint":"fp_v1"},"description":null,"metadata":{},"at":"2026-11-20T10:00:00+00:00"}""",
            $$"""{"paymentId":"{{id}}","merchantId":"acme","amount":{{amount}},"currency":"USD","gatewayReference":"ch_v1","receiptNumber":"ACME-V1-00000001","at":"2026-11-20T10:00:01+00:00"}""",
        ];
        string[] types = ["payment_requested", "payment_charged"];
        string[] times = ["2026-11-20T10:00:00.000000Z", "2026-11-20T10:00:01.000000Z"];
        var lines = new List<string>();
        byte[]? previous = null;
        for (var i = 0; i < 2; i++)
        {
            var metadata = $$"""{"correlationId":"req_v1_{{i + 1}}","causationId":"request:v1","idempotencyKey":"k-{{id}}","actor":"merchant:acme"}""";
            var canonical = $"{id}\n{i + 1}\n{types[i]}\n{times[i]}\n{data[i]}\n{metadata}";
            var hash = System.Security.Cryptography.SHA256.HashData([.. previous ?? [], .. System.Text.Encoding.UTF8.GetBytes(canonical)]);
            lines.Add($$"""{"sequence":{{i + 1}},"streamId":"{{id}}","version":{{i + 1}},"type":"{{types[i]}}","occurredAt":"{{times[i]}}","data":{{data[i]}},"metadata":{{metadata}},"hash":"{{Convert.ToHexStringLower(hash)}}","previousHash":{{(previous is null ? "null" : $"\"{Convert.ToHexStringLower(previous)}\"")}}}""");
            previous = hash;
        }
        var file = Path.Combine(Path.GetTempPath(), $"ledger-v1-export-{Guid.NewGuid():N}.jsonl");
        File.WriteAllLines(file, lines);
        return file;
    }
}
