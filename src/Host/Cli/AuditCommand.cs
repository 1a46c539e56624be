using JasperFx.CommandLine;
using Ledger.Domain.Payments;
using Ledger.EventStore;
using Ledger.EventStore.Audit;
using Ledger.Projections;
using Ledger.Projections.Rebuild;
using Microsoft.Extensions.DependencyInjection;
using Spectre.Console;

namespace Ledger.Host.Cli;

public sealed class AuditInput : ILedgerInput
{
    [Description("What to do: verify, checkpoint, keygen or public-key")]
    public string Action { get; set; } = "";

    [Description("prove: the payment whose events are to be proved in the log")]
    public string PaymentId { get; set; } = "";

    [Description("prove: a file of checkpoints (one JSON line each, the last is used), an auditor's own copy"), FlagAlias("checkpoint", true)]
    public string? CheckpointFlag { get; set; }

    [Description("verify: also check the log against the signed checkpoints in this JSON-lines file"), FlagAlias("checkpoints", true)]
    public string? CheckpointsFlag { get; set; }

    [Description("verify, prove: the public key (PEM) the checkpoints were signed with; after a key rotation, the old and new keys one after another in the file"), FlagAlias("public-key", true)]
    public string? PublicKeyFlag { get; set; }

    [Description("checkpoint, public-key: the signing key (PEM; default Ledger:Audit:SigningKeyFile)"), FlagAlias("key", true)]
    public string? KeyFlag { get; set; }

    [Description("checkpoint: the checkpoint file to append to (default Ledger:Audit:CheckpointFile); keygen: where to write the new private key"), FlagAlias("out", true)]
    public string? OutFlag { get; set; }
}

[Description("Prove the log and the read models agree, and the log is what was signed: `verify` (with --checkpoints and --public-key against signed checkpoints), `checkpoint` signs one now, `keygen` makes a signing key, `public-key` prints it", Name = "audit")]
public sealed class AuditCommand : LedgerCommand<AuditInput>
{
    public AuditCommand(CliContext cli) : base(cli)
    {
        Usage("Check the log and every read model, and the log against signed checkpoints when given; one `discrepancy:` line per finding: verify, optionally --checkpoints FILE --public-key FILE")
            .Arguments(x => x.Action).ValidFlags(x => x.CheckpointsFlag!, x => x.PublicKeyFlag!);
        Usage("Digest the log and sign a checkpoint of it now: checkpoint, optionally --key FILE --out FILE").Arguments(x => x.Action).ValidFlags(x => x.KeyFlag!, x => x.OutFlag!);
        Usage("Prove a payment's events are in the log under a checkpoint you hold: prove <paymentId> --checkpoint FILE --public-key FILE")
            .Arguments(x => x.Action, x => x.PaymentId).ValidFlags(x => x.CheckpointFlag!, x => x.PublicKeyFlag!);
        Usage("Make a checkpoint signing key (ECDSA P-256) and print its public key: keygen --out FILE").Arguments(x => x.Action).ValidFlags(x => x.OutFlag!);
        Usage("Print the signing key's public key (PEM) and key id: public-key, optionally --key FILE").Arguments(x => x.Action).ValidFlags(x => x.KeyFlag!);
    }

    protected override IReadOnlyDictionary<string, Func<AuditInput, Task<bool>>> Actions =>
        new Dictionary<string, Func<AuditInput, Task<bool>>>
        {
            ["verify"] = Verify, ["checkpoint"] = Checkpoint, ["keygen"] = KeyGen, ["public-key"] = PublicKey, ["prove"] = Prove,
        };

    private async Task<bool> Checkpoint(AuditInput input)
    {
        Only(input, "checkpoint", input.KeyFlag, input.OutFlag);
        var file = input.OutFlag ?? Cli.Configuration["Ledger:Audit:CheckpointFile"]
            ?? throw new UsageException("'audit checkpoint' needs --out FILE or Ledger:Audit:CheckpointFile.");
        using var key = LoadKey(input.KeyFlag ?? Cli.Configuration["Ledger:Audit:SigningKeyFile"]
            ?? throw new UsageException("'audit checkpoint' needs --key FILE or Ledger:Audit:SigningKeyFile."), mustSign: true);
        await using var services = Cli.Services();
        var (state, checkpoint) = await new LogDigest(services.GetRequiredService<Npgsql.NpgsqlDataSource>())
            .RunAsync(key, file, TimeProvider.System, Cli.Stop);
        if (checkpoint is null)
            await Cli.Writer.WriteLineAsync($"No new events since the last checkpoint ({state.Size:N0} events); nothing signed.");
        else
            await Cli.Writer.WriteLineAsync($"Checkpoint: {checkpoint.EventCount:N0} events up to sequence {checkpoint.Position}, root {checkpoint.Root}, " +
                $"signed by {checkpoint.KeyId}, appended to {file}.");
        return true;
    }

    /// <summary>
    /// The inclusion proof of each of a payment's events under the auditor's checkpoint, built from the database and
    /// checked as an outsider would: each event's hash recomputed from its content, its leaf, the root its audit path
    /// gives, and the checkpoint's signature with the public key.
    /// </summary>
    private async Task<bool> Prove(AuditInput input)
    {
        Only(input, "prove", input.CheckpointFlag, input.PublicKeyFlag);
        if (input.PaymentId.Length == 0) throw new UsageException("'audit prove' needs a payment id.");
        var (file, keyFile) = (input.CheckpointFlag ?? throw new UsageException("'audit prove' needs --checkpoint FILE."),
            input.PublicKeyFlag ?? throw new UsageException("'audit prove' needs --public-key FILE."));
        if (!File.Exists(file)) throw new UsageException($"No such file: {file}");
        var checkpoint = CheckpointFile.Read(file).LastOrDefault().Checkpoint ?? throw new UsageException($"{file} ends with no checkpoint.");
        using var keys = LoadKeys(keyFile);
        var signed = keys.Verifies(checkpoint);
        await Cli.Writer.WriteLineAsync($"checkpoint {checkpoint.EventCount} events, root {checkpoint.Root}: " +
            (signed ? $"signed by {checkpoint.KeyId}" : keys.Knows(checkpoint.KeyId)
                ? "the signature does not verify (forged or edited)"
                : $"signed by {checkpoint.KeyId}, not by a public key given ({string.Join(", ", keys.KeyIds)})"));

        await using var services = Cli.Services();
        var events = await services.GetRequiredService<EventLog<PaymentEvent>>().ReadStreamAsync(input.PaymentId, ct: Cli.Stop);
        if (events.Count == 0) throw new UsageException($"No payment {input.PaymentId} in this log.");
        var digest = services.GetRequiredService<LogDigest>();
        var positions = await digest.PositionsAsync([.. events.Select(e => e.Sequence)], Cli.Stop);
        var covered = events.Where(e => positions.TryGetValue(e.Sequence, out var p) && p < checkpoint.EventCount).ToList();
        var proofs = await digest.ProofsAsync([.. covered.Select(e => positions[e.Sequence])], checkpoint.EventCount, Cli.Stop);
        var proved = signed;
        byte[]? previous = null;
        foreach (var e in events)
        {
            previous = HashChain.Recompute(e, previous);
            if (!positions.TryGetValue(e.Sequence, out var position) || position >= checkpoint.EventCount)
            {
                await Cli.Writer.WriteLineAsync($"version {e.Version}: after this checkpoint; not proved");
                continue;
            }
            var root = Merkle.RootFromInclusionProof(Merkle.Leaf(e.Sequence, previous), position, checkpoint.EventCount, proofs[position]);
            var holds = root is not null && Convert.ToHexStringLower(root) == checkpoint.Root;
            await Cli.Writer.WriteLineAsync($"version {e.Version} ({e.Type}) at position {position}: {(holds ? "in the log under the checkpoint" : "NOT under the checkpoint (edited since?)")}");
            proved &= holds;
        }
        return proved && covered.Count > 0;
    }

    private async Task<bool> KeyGen(AuditInput input)
    {
        Only(input, "keygen", input.OutFlag);
        var path = input.OutFlag ?? throw new UsageException("'audit keygen' needs --out FILE.");
        if (File.Exists(path)) throw new UsageException($"{path} exists; a signing key is never overwritten.");
        using var key = CheckpointKey.Generate();
        if (Path.GetDirectoryName(Path.GetFullPath(path)) is { } directory) Directory.CreateDirectory(directory);
        // Readable by its owner alone, from the moment it exists.
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows()) options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        await using (var file = new FileStream(path, options))
        await using (var writer = new StreamWriter(file))
            await writer.WriteAsync(key.PrivateKeyPem + "\n");
        await Cli.Writer.WriteLineAsync($"Wrote the private key {key.KeyId} to {path}. Its public key:");
        await Cli.Writer.WriteLineAsync(key.PublicKeyPem);
        return true;
    }

    private async Task<bool> PublicKey(AuditInput input)
    {
        Only(input, "public-key", input.KeyFlag);
        using var key = LoadKey(input.KeyFlag ?? Cli.Configuration["Ledger:Audit:SigningKeyFile"]
            ?? throw new UsageException("'audit public-key' needs --key FILE or Ledger:Audit:SigningKeyFile."), mustSign: false);
        await Cli.Writer.WriteLineAsync($"# {key.KeyId}");
        await Cli.Writer.WriteLineAsync(key.PublicKeyPem);
        return true;
    }

    /// <summary>The public keys to check with: one PEM file, one key or several (the keys a rotation retired too).</summary>
    private static CheckpointKeys LoadKeys(string path) => FromKeyFile(path, CheckpointKeys.Load);

    private static CheckpointKey LoadKey(string path, bool mustSign) => FromKeyFile(path, file =>
    {
        var key = CheckpointKey.Load(file);
        if (!mustSign || key.CanSign) return key;
        key.Dispose();
        throw new UsageException($"{file} is a public key; signing needs the private key.");
    });

    /// <summary>A missing or unreadable key file is the operator's mistake: a usage error (exit 2).</summary>
    private static T FromKeyFile<T>(string path, Func<string, T> load)
    {
        if (!File.Exists(path)) throw new UsageException($"No such key file: {path}");
        try
        {
            return load(path);
        }
        catch (InvalidDataException e)
        {
            throw new UsageException(e.Message);
        }
    }

    /// <summary>Flags another action takes are a usage error here, not silently ignored.</summary>
    private static void Only(AuditInput input, string action, params string?[] allowed)
    {
        var given = new[] { input.CheckpointsFlag, input.PublicKeyFlag, input.KeyFlag, input.OutFlag, input.CheckpointFlag }.Where(f => f is not null);
        if (given.Any(f => !allowed.Contains(f)))
            throw new UsageException($"'audit {action}' does not take that flag. See --help.");
    }

    private async Task<bool> Verify(AuditInput input)
    {
        Only(input, "verify", input.CheckpointsFlag, input.PublicKeyFlag);
        if ((input.CheckpointsFlag is null) != (input.PublicKeyFlag is null))
            throw new UsageException("--checkpoints and --public-key go together: the checkpoints are checked with that key.");
        using var publicKeys = input.PublicKeyFlag is { } keyFile ? LoadKeys(keyFile) : null;
        if (input.CheckpointsFlag is { } path && !File.Exists(path)) throw new UsageException($"No such file: {path}");
        var checkpoints = input.CheckpointsFlag is { } file ? new CheckpointVerifier(CheckpointFile.Read(file).ToList(), publicKeys!) : null;
        await using var services = Cli.Services();
        var audit = new ReadModelAudit(services.GetRequiredService<Npgsql.NpgsqlDataSource>(), services.GetRequiredService<EventLog<PaymentEvent>>());
        AuditReport? report = null;
        await Cli.Console.Progress().StartAsync(async progress =>
        {
            var task = progress.AddTask("verifying", maxValue: 1);
            report = await audit.RunAsync(new Progress<(long Done, long Total)>(p => (task.MaxValue, task.Value) = (Math.Max(1, p.Total), p.Done)), Cli.Stop, checkpoints);
            task.Value = task.MaxValue;
        });
        Cli.Console.WriteLine($"Checked {report!.Events:N0} events in {report.Streams:N0} streams against {ReadModelTables.All.Count} read tables"
            + (checkpoints is null ? "." : $" and {report.Checkpoints:N0} signed checkpoints."));
        if (report.Clean)
        {
            Cli.Console.MarkupLine(checkpoints is null
                ? "[green]OK: hash chains intact, read models equal the log, debits equal credits.[/]"
                : "[green]OK: hash chains intact, the log is what the checkpoints signed, read models equal the log, debits equal credits.[/]");
            return true;
        }
        Cli.Console.MarkupLineInterpolated($"[red]{report.Discrepancies.Count} discrepancies:[/]");
        // One finding per line, never wrapped, so CI can grep it.
        foreach (var problem in report.Discrepancies) await Cli.Writer.WriteLineAsync($"discrepancy: {problem.ReplaceLineEndings(" ")}");
        return false;
    }
}
