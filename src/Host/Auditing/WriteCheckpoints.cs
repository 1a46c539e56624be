using Ledger.EventStore.Audit;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Ledger.Host.Auditing;

/// <summary>Section Ledger:Audit: the log's digest and its signed checkpoints (docs/operations.md).</summary>
public sealed class AuditOptions
{
    /// <summary>How often the digest takes up new events and, with a key, signs a checkpoint. Zero: never.</summary>
    public TimeSpan CheckpointEvery { get; set; } = TimeSpan.FromMinutes(1);
    /// <summary>The ECDSA P-256 private key (PKCS#8 PEM) checkpoints are signed with. Never in the database.</summary>
    public string? SigningKeyFile { get; set; }
    /// <summary>The append-only JSON-lines file every checkpoint is written to before the database records it.</summary>
    public string? CheckpointFile { get; set; }
}

/// <summary>A key file that cannot sign, or a key without a file, stops the host at start-up (not at the first checkpoint).</summary>
public sealed class AuditOptionsValidation : IValidateOptions<AuditOptions>
{
    public ValidateOptionsResult Validate(string? name, AuditOptions options)
    {
        if ((options.SigningKeyFile is null) != (options.CheckpointFile is null))
            return ValidateOptionsResult.Fail("Ledger:Audit:SigningKeyFile and Ledger:Audit:CheckpointFile go together: set both, or neither.");
        if (options.SigningKeyFile is not { } path) return ValidateOptionsResult.Success;
        try
        {
            using var key = CheckpointKey.Load(path);
            return key.CanSign ? ValidateOptionsResult.Success
                : ValidateOptionsResult.Fail($"Ledger:Audit:SigningKeyFile {path} holds a public key; signing needs the private key.");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidDataException)
        {
            return ValidateOptionsResult.Fail($"Ledger:Audit:SigningKeyFile: {e.Message}");
        }
    }
}

/// <summary>
/// Keeps the log's digest up to date and signs a checkpoint whenever it grew, every Ledger:Audit:CheckpointEvery.
/// A Wolverine singular agent (`ledger-checkpoints://`): of the hosts sharing the database exactly one writes them,
/// so the file has one writer. Without a key and a file it still digests (for the proofs), and signs nothing.
/// </summary>
public sealed class WriteCheckpoints(LogDigest digest, TimeProvider clock, IOptions<AuditOptions> options, ILogger<WriteCheckpoints> logger)
    : LoopingAgent("ledger-checkpoints")
{
    protected override async Task RunAsync(CancellationToken stopping)
    {
        if (options.Value.CheckpointEvery <= TimeSpan.Zero) return;
        var (keyFile, file) = (options.Value.SigningKeyFile, options.Value.CheckpointFile);
        using var key = keyFile is not null && file is not null ? CheckpointKey.Load(keyFile) : null;
        if (key is null)
            logger.LogWarning("No checkpoints are signed: set Ledger:Audit:SigningKeyFile and Ledger:Audit:CheckpointFile (docs/operations.md); the log's digest is kept");
        else
            logger.LogInformation("Signing checkpoints with key {KeyId} into {File}, every {Interval}", key.KeyId, file, options.Value.CheckpointEvery);
        using var timer = new PeriodicTimer(options.Value.CheckpointEvery, clock);
        do
        {
            try
            {
                var started = clock.GetTimestamp();
                var (state, checkpoint) = await digest.RunAsync(key, file, clock, stopping);
                if (checkpoint is not null)
                    logger.LogDebug("Checkpoint of {Events} events up to sequence {Position} in {Elapsed:F1} ms", state.Size, state.LastSequence,
                        clock.GetElapsedTime(started).TotalMilliseconds);
            }
            catch (Exception e) when (e is NpgsqlException or TimeoutException)
            {
                logger.LogWarning("Checkpoint skipped: database unavailable ({Message})", e.Message);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                logger.LogError(e, "Checkpoint failed; it runs again at the next interval");
            }
        } while (await timer.WaitForNextTickAsync(stopping));
    }
}
