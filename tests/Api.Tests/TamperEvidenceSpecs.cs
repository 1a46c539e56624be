using System.Text.Json;
using Ledger.EventStore;
using Ledger.EventStore.Audit;
using Ledger.Host.Cli;
using Npgsql;
using Shouldly;
using Xunit;

namespace Ledger.Api.Tests;

/// <summary>
/// Issue 13: a database superuser rewrites history, and `audit verify --checkpoints FILE --public-key FILE` names
/// where, because the checkpoints were signed with a key the database never held. Each spec builds a small log on a
/// database of its own, taking a checkpoint after each step, attacks it the way a superuser would (triggers off,
/// chains recomputed with the documented rule, read model rebuilt to agree), and expects exit 1 with the position.
/// </summary>
public sealed class TamperEvidenceSpecs : IAsyncLifetime
{
    private readonly LedgerApp _app = new();
    private readonly string _dir = Directory.CreateTempSubdirectory("ledger-checkpoints-").FullName;
    private string Key => Path.Combine(_dir, "checkpoint-key.pem");
    private string PublicKey => Path.Combine(_dir, "checkpoint-key.pub");
    private string Checkpoints => Path.Combine(_dir, "checkpoints.jsonl");

    public async ValueTask InitializeAsync()
    {
        await _app.InitializeAsync();
        var (generated, output) = await Cli.Run(_app, "audit", "keygen", "--out", Key);
        generated.ShouldBe(ExitCodes.Ok, output);
        var (printed, pem) = await Cli.Run(_app, "audit", "public-key", "--key", Key);
        printed.ShouldBe(ExitCodes.Ok, pem);
        await File.WriteAllTextAsync(PublicKey, pem[pem.IndexOf("-----BEGIN PUBLIC KEY-----", StringComparison.Ordinal)..]);
    }

    [Fact]
    public async Task Removing_a_refund_and_setting_the_stream_version_back_is_named_though_the_plain_audit_passes()
    {
        var (payment, _) = await ChargedAndRefunded();
        var refund = await Event(payment, version: 3);

        await AsSuperuser($"""
            delete from ledger.event_chain where seq_id = {refund.Seq};
            delete from ledger.mt_events where seq_id = {refund.Seq};
            update ledger.mt_streams set version = 2 where id = '{payment}';
            """);
        await Rebuilt();

        (await Cli.Run(_app, "audit", "verify")).ExitCode.ShouldBe(ExitCodes.Ok); // what v1's audit could see
        await VerifyNames(refund.Position, $"position {refund.Position} (sequence {refund.Seq}): the event digested here is no longer in the log");
    }

    [Fact]
    public async Task Editing_a_refund_and_recomputing_its_streams_chain_is_named_though_the_plain_audit_passes()
    {
        var (payment, _) = await ChargedAndRefunded();
        var refund = await Event(payment, version: 3);

        await ForgeRefundAmount(payment, refund.Seq);
        await Rebuilt();

        (await Cli.Run(_app, "audit", "verify")).ExitCode.ShouldBe(ExitCodes.Ok);
        (await _app.Database.ScalarAsync<long>($"select amount_refunded from payment_views where id = '{payment}'")).ShouldBe(1);
        await VerifyNames(refund.Position, $"position {refund.Position} (sequence {refund.Seq}, stream {payment} version 3): the event differs from the one digested");
    }

    [Fact]
    public async Task Deleting_a_whole_stream_is_named_at_its_first_event()
    {
        var (_, other) = await ChargedAndRefunded();
        var first = await Event(other, version: 1);

        await AsSuperuser($"""
            delete from ledger.event_chain where seq_id in (select seq_id from ledger.mt_events where stream_id = '{other}');
            delete from ledger.mt_events where stream_id = '{other}';
            delete from ledger.mt_streams where id = '{other}';
            """);
        await Rebuilt();

        await VerifyNames(first.Position, $"position {first.Position} (sequence {first.Seq}): the event digested here is no longer in the log");
    }

    [Fact]
    public async Task Swapping_two_events_places_in_the_log_is_named_at_the_earlier_one()
    {
        var (payment, other) = await ChargedAndRefunded();
        var (a, b) = (await Event(payment, version: 1), await Event(other, version: 1));

        // Marten's sequence and Ledger's chain row move together, so both streams' chains still hold.
        await AsSuperuser($"""
            update ledger.event_chain set seq_id = -1 where seq_id = {a.Seq};
            update ledger.mt_events set seq_id = -1 where seq_id = {a.Seq};
            update ledger.event_chain set seq_id = {a.Seq} where seq_id = {b.Seq};
            update ledger.mt_events set seq_id = {a.Seq} where seq_id = {b.Seq};
            update ledger.event_chain set seq_id = {b.Seq} where seq_id = -1;
            update ledger.mt_events set seq_id = {b.Seq} where seq_id = -1;
            """);

        (await Cli.Run(_app, "audit", "verify")).ExitCode.ShouldBe(ExitCodes.Ok);
        await VerifyNames(Math.Min(a.Position, b.Position), $"position {a.Position} (sequence {a.Seq}, stream {other} version 1): the event differs");
    }

    [Fact]
    public async Task Editing_an_event_and_recomputing_the_chain_and_the_digest_is_caught_by_the_signed_root()
    {
        var (payment, _) = await ChargedAndRefunded();
        var refund = await Event(payment, version: 3);

        await ForgeRefundAmount(payment, refund.Seq);
        // The digest's leaves too, with the documented rule, so that no stored leaf disagrees with the log.
        await AsSuperuser("""
            update ledger.log_digest d set leaf = sha256('\x00'::bytea || int8send(d.seq_id) || c.hash)
            from ledger.event_chain c where c.seq_id = d.seq_id
            """);
        await Rebuilt();

        // The refund is the only event between the checkpoints of 2 and 3 events: the range is exactly its position.
        var (exit, output) = await Verify();
        exit.ShouldBe(ExitCodes.Discrepancies, output);
        output.ShouldContain($"first at position {refund.Position}");
        output.ShouldContain($"(eventCount {refund.Position + 1}, at ");
        output.ShouldContain($"an event at a position from {refund.Position} to {refund.Position} was edited, removed, reordered or re-hashed");
    }

    [Fact]
    public async Task Cutting_the_logs_tail_is_named_where_the_cut_begins()
    {
        var (_, other) = await ChargedAndRefunded();
        var first = await Event(other, version: 1);

        await AsSuperuser($"""
            delete from ledger.log_digest where position >= {first.Position};
            delete from ledger.event_chain where seq_id in (select seq_id from ledger.mt_events where stream_id = '{other}');
            delete from ledger.mt_events where stream_id = '{other}';
            delete from ledger.mt_streams where id = '{other}';
            """);
        await Rebuilt();

        await VerifyNames(first.Position, $"the log's digest holds only {first.Position} events; positions {first.Position} to {first.Position + 1} are gone");
    }

    [Fact]
    public async Task Audit_prove_shows_a_payments_events_under_the_auditors_checkpoint_and_not_once_one_is_edited()
    {
        var (payment, _) = await ChargedAndRefunded();
        var refund = await Event(payment, version: 3);

        var (exit, output) = await Cli.Run(_app, "audit", "prove", payment, "--checkpoint", Checkpoints, "--public-key", PublicKey);
        exit.ShouldBe(ExitCodes.Ok, output);
        output.ShouldContain("checkpoint 7 events, root ");
        output.ShouldContain($"version 3 (payment_refunded) at position {refund.Position}: in the log under the checkpoint");

        await ForgeRefundAmount(payment, refund.Seq);
        (exit, output) = await Cli.Run(_app, "audit", "prove", payment, "--checkpoint", Checkpoints, "--public-key", PublicKey);
        exit.ShouldBe(ExitCodes.Discrepancies, output);
        output.ShouldContain($"version 3 (payment_refunded) at position {refund.Position}: NOT under the checkpoint");
        output.ShouldContain("version 1 (payment_requested) at position 0: in the log under the checkpoint");
    }

    [Fact]
    public async Task A_checkpoint_with_an_edited_root_or_signed_by_another_key_is_refused()
    {
        await ChargedAndRefunded();
        var lines = await File.ReadAllLinesAsync(Checkpoints);
        var last = Checkpoint.Parse(lines[^1])!;
        using var stranger = CheckpointKey.Generate();
        var forged = stranger.Sign(last.Position, last.EventCount, Convert.FromHexString(last.Root), last.At);
        await File.WriteAllLinesAsync(Checkpoints, [.. lines[..^1], (last with { Root = new string('0', 64) }).ToJson(), forged.ToJson()]);

        var (exit, output) = await Verify();

        exit.ShouldBe(ExitCodes.Discrepancies, output);
        output.ShouldContain($"checkpoints line {lines.Length} (eventCount {last.EventCount}): the signature does not verify; the checkpoint was forged or edited");
        output.ShouldContain($"checkpoints line {lines.Length + 1} (eventCount {last.EventCount}): signed by key {stranger.KeyId}, not by the public key given (");
        output.ShouldNotContain("first at position"); // the log itself is intact: the earlier checkpoints hold
    }

    [Fact]
    public async Task A_checkpoint_file_that_spans_a_key_rotation_verifies_with_the_retired_and_the_new_public_key()
    {
        var payment = await Charge(900);
        await CheckpointOf(2);
        await Charge(500);
        await CheckpointOf(4);
        // The key is rotated: a new one signs from now on, into the same file.
        var rotated = Path.Combine(_dir, "rotated-key.pem");
        (await Cli.Run(_app, "audit", "keygen", "--out", rotated)).ExitCode.ShouldBe(ExitCodes.Ok);
        var (_, pem) = await Cli.Run(_app, "audit", "public-key", "--key", rotated);
        var rotatedPublic = Path.Combine(_dir, "rotated-key.pub");
        await File.WriteAllTextAsync(rotatedPublic, pem[pem.IndexOf("-----BEGIN PUBLIC KEY-----", StringComparison.Ordinal)..]);
        await Charge(700);
        await CheckpointOf(6, rotated);
        var both = Path.Combine(_dir, "both.pub");
        await File.WriteAllTextAsync(both, await File.ReadAllTextAsync(PublicKey) + await File.ReadAllTextAsync(rotatedPublic));
        string oldId, newId;
        using (var oldKey = CheckpointKey.Load(PublicKey)) oldId = oldKey.KeyId;
        using (var newKey = CheckpointKey.Load(rotatedPublic)) newId = newKey.KeyId;
        oldId.ShouldNotBe(newId);

        var (exit, output) = await Cli.Run(_app, "audit", "verify", "--checkpoints", Checkpoints, "--public-key", both);
        exit.ShouldBe(ExitCodes.Ok, output);
        output.ShouldContain("and 3 signed checkpoints");

        (exit, output) = await Cli.Run(_app, "audit", "verify", "--checkpoints", Checkpoints, "--public-key", rotatedPublic);
        exit.ShouldBe(ExitCodes.Discrepancies, output);
        output.ShouldContain($"checkpoints line 1 (eventCount 2): signed by key {oldId}, not by the public key given ({newId})");
        output.ShouldContain($"checkpoints line 2 (eventCount 4): signed by key {oldId}, not by the public key given ({newId})");
        output.ShouldNotContain("checkpoints line 3");

        (exit, output) = await Cli.Run(_app, "audit", "prove", payment, "--checkpoint", Checkpoints, "--public-key", both);
        exit.ShouldBe(ExitCodes.Ok, output);
        output.ShouldContain($"checkpoint 6 events, root ");
        output.ShouldContain($"signed by {newId}");

        // The outsider's script picks the key by the checkpoint's key id too, and says when it was not given.
        var proof = Path.Combine(_dir, "proof.json");
        await File.WriteAllTextAsync(proof, await (await _app.Scenario(LedgerApp.Acme, s => s.Get.Url($"/v1/payments/{payment}/proof"))).ReadAsTextAsync());
        var script = Path.Combine(ChildProcess.RepositoryRoot(), "scripts", "verify-proof.py");
        var outsider = await ChildProcess.RunAsync("python3", [script, both, proof]);
        outsider.Exit.ShouldBe(0, outsider.Stdout + outsider.Stderr);
        outsider.Stdout.ShouldContain($"key {newId}: signature ok");
        var withOldKeyOnly = await ChildProcess.RunAsync("python3", [script, PublicKey, proof]);
        withOldKeyOnly.Exit.ShouldBe(1, withOldKeyOnly.Stdout + withOldKeyOnly.Stderr);
        withOldKeyOnly.Stdout.ShouldContain($"key {newId}: signature FAILED (no public key given with that key id)");
    }

    [Fact]
    public async Task An_untouched_log_verifies_against_its_checkpoints()
    {
        await ChargedAndRefunded();

        var (exit, output) = await Verify();

        exit.ShouldBe(ExitCodes.Ok, output);
        output.ShouldContain("and 4 signed checkpoints");
        output.ShouldContain("OK: hash chains intact, the log is what the checkpoints signed");
        (await _app.Database.ScalarAsync<long>("select count(*) from ledger.audit_checkpoints")).ShouldBe(4);
    }

    [Fact]
    public async Task A_checkpoint_without_new_events_signs_nothing_and_usage_mistakes_are_exit_2()
    {
        await ChargedAndRefunded();
        var (exit, output) = await Cli.Run(_app, "audit", "checkpoint", "--key", Key, "--out", Checkpoints);
        exit.ShouldBe(ExitCodes.Ok, output);
        output.ShouldContain("No new events since the last checkpoint (7 events); nothing signed.");
        (await File.ReadAllLinesAsync(Checkpoints)).Length.ShouldBe(4);

        (await Cli.Run(_app, "audit", "verify", "--checkpoints", Checkpoints)).ExitCode.ShouldBe(ExitCodes.Usage);
        (await Cli.Run(_app, "audit", "checkpoint", "--key", PublicKey, "--out", Checkpoints)).ExitCode.ShouldBe(ExitCodes.Usage);
        (await Cli.Run(_app, "audit", "checkpoint", "--out", Checkpoints)).ExitCode.ShouldBe(ExitCodes.Usage);
        (await Cli.Run(_app, "audit", "keygen", "--out", Key)).ExitCode.ShouldBe(ExitCodes.Usage); // never overwritten
        (await Cli.Run(_app, "audit", "verify", "--key", Key)).ExitCode.ShouldBe(ExitCodes.Usage);
    }

    /// <summary>
    /// Charge (2 events), refund (1), charge (2), charge (2), a checkpoint after each: 7 events, checkpoints of 2, 3, 5
    /// and 7. Returns the refunded payment and the last one charged.
    /// </summary>
    private async Task<(string Refunded, string Last)> ChargedAndRefunded()
    {
        var payment = await Charge(900);
        await CheckpointOf(2);
        var refunded = await _app.Scenario(LedgerApp.Acme, s =>
        {
            s.Post.Json(new { amount = 100 }).ToUrl($"/v1/payments/{payment}/refunds");
            s.WithRequestHeader("Idempotency-Key", Requests.NewKey());
            s.StatusCodeShouldBe(201);
        });
        await CheckpointOf(3);
        await Charge(500);
        await CheckpointOf(5);
        var last = await Charge(700);
        await CheckpointOf(7);
        return (payment, last);
    }

    private async Task<string> Charge(long amount)
    {
        var charged = await _app.Scenario(LedgerApp.Acme, s =>
        {
            s.Post.RawJson(Requests.Charge(amount: amount).ToJsonString()).ToUrl("/v1/payments");
            s.WithRequestHeader("Idempotency-Key", Requests.NewKey());
            s.StatusCodeShouldBe(201);
        });
        return JsonDocument.Parse(await charged.ReadAsTextAsync()).RootElement.Str("id");
    }

    /// <summary>
    /// `audit checkpoint` once every event is below the commit-safe horizon, so that it covers them all: the horizon
    /// is the oldest transaction in flight anywhere on the server, and other test classes share it.
    /// </summary>
    private async Task CheckpointOf(long events, string? key = null)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (!await _app.Database.ScalarAsync<bool>(
            "select pg_snapshot_xmin(pg_current_snapshot()) > (select max(transaction_id) from ledger.event_chain)"))
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException("The commit-safe horizon did not pass the last event in 30 s.");
            await Task.Delay(50);
        }
        var (exit, output) = await Cli.Run(_app, "audit", "checkpoint", "--key", key ?? Key, "--out", Checkpoints);
        exit.ShouldBe(ExitCodes.Ok, output);
        output.ShouldStartWith($"Checkpoint: {events:N0} events up to sequence ");
    }

    private async Task<(long Seq, long Position)> Event(string stream, long version)
    {
        var seq = await _app.Database.ScalarAsync<long>($"select seq_id from ledger.mt_events where stream_id = '{stream}' and version = {version}");
        return (seq, await _app.Database.ScalarAsync<long>($"select position from ledger.log_digest where seq_id = {seq}"));
    }

    private Task<(int ExitCode, string Output)> Verify() =>
        Cli.Run(_app, "audit", "verify", "--checkpoints", Checkpoints, "--public-key", PublicKey);

    private async Task VerifyNames(long position, string finding)
    {
        var (exit, output) = await Verify();
        exit.ShouldBe(ExitCodes.Discrepancies, output);
        output.ShouldContain($"discrepancy: checkpoints: the log differs from what was signed, first at position {position}");
        output.ShouldContain(finding);
    }

    /// <summary>What a superuser can do: every trigger off (the immutability guards, the chain) for one transaction.</summary>
    private Task AsSuperuser(string sql) =>
        _app.Database.ExecuteAsync($"begin; set local session_replication_role = replica; {sql}; commit;");

    /// <summary>A refund's amount set to 1 and its stream's chain recomputed to match: issue 13's second attack.</summary>
    private async Task ForgeRefundAmount(string payment, long refundSeq)
    {
        await AsSuperuser($"update ledger.mt_events set data = jsonb_set(data, '{{amount}}', '1') where seq_id = {refundSeq}");
        await RechainAsync(payment);
    }

    /// <summary>Recomputes a stream's chain with the documented rule (docs/events.md), as an attacker who read it would.</summary>
    private async Task RechainAsync(string stream)
    {
        await using var db = _app.Database.CreateDataSource();
        var events = new List<(long Seq, byte[] Content)>();
        await using (var cmd = db.CreateCommand(
            $"select sequence, version, type, data::text, metadata::text, occurred_at from ledger.events where stream_id = '{stream}' order by version"))
        await using (var reader = await cmd.ExecuteReaderAsync())
            while (await reader.ReadAsync())
                events.Add((reader.GetInt64(0), HashChain.ContentHash(HashChain.Canonical(stream, reader.GetInt64(1), reader.GetString(2),
                    reader.GetFieldValue<DateTimeOffset>(5), reader.GetString(3), reader.GetString(4)))));
        byte[]? previous = null;
        var updates = new List<string>();
        foreach (var (seq, content) in events)
        {
            var hash = HashChain.Link(previous, content);
            updates.Add($"update ledger.event_chain set previous_hash = {(previous is null ? "null" : $"'\\x{Convert.ToHexStringLower(previous)}'")}, hash = '\\x{Convert.ToHexStringLower(hash)}' where seq_id = {seq}");
            previous = hash;
        }
        await AsSuperuser(string.Join(";\n", updates));
    }

    private async Task Rebuilt()
    {
        var (exit, output) = await Cli.Run(_app, "projections", "rebuild");
        exit.ShouldBe(ExitCodes.Ok, output);
    }

    public async ValueTask DisposeAsync()
    {
        await _app.DisposeAsync();
        Directory.Delete(_dir, recursive: true);
    }
}

/// <summary>A host that signs a checkpoint every second with a key of its own, into a file of its own.</summary>
public sealed class CheckpointingApp : LedgerApp
{
    public string Directory { get; } = System.IO.Directory.CreateTempSubdirectory("ledger-checkpointing-").FullName;
    public string KeyFile => Path.Combine(Directory, "key.pem");
    public string PublicKeyFile => Path.Combine(Directory, "key.pub");
    public string CheckpointFile => Path.Combine(Directory, "checkpoints.jsonl");

    public CheckpointingApp()
    {
        using var key = CheckpointKey.Generate();
        File.WriteAllText(KeyFile, key.PrivateKeyPem);
        File.WriteAllText(PublicKeyFile, key.PublicKeyPem);
    }

    protected override IEnumerable<KeyValuePair<string, string>> Settings =>
    [
        new("Ledger:Audit:CheckpointEvery", "00:00:01"), new("Ledger:Audit:SigningKeyFile", KeyFile),
        new("Ledger:Audit:CheckpointFile", CheckpointFile), new("Ledger:Cluster:FirstHeartbeatAfter", "00:00:00.250"),
        new("Ledger:Cluster:HeartbeatEvery", "00:00:01"), new("Ledger:Cluster:CheckAssignmentsEvery", "00:00:01"),
        // The proof spec's 10,000 payments and their proofs come from one merchant key faster than its production budget.
        new("Ledger:RateLimit:PermitsPerSecond", "100000"), new("Ledger:RateLimit:Burst", "100000"),
    ];

    public override async ValueTask DisposeAsync()
    {
        await base.DisposeAsync();
        System.IO.Directory.Delete(Directory, recursive: true);
    }
}

public sealed class CheckpointsUnderLoadSpecs(CheckpointingApp app) : IClassFixture<CheckpointingApp>
{
    [Fact]
    public async Task A_log_written_under_concurrent_load_while_the_host_signs_a_checkpoint_every_second_verifies()
    {
        // The leader has given this host the checkpoint agent.
        var assigned = DateTime.UtcNow.AddSeconds(30);
        while (!await app.Database.ScalarAsync<bool>("select exists (select 1 from wolverine.wolverine_node_assignments where id like 'ledger-checkpoints:%')"))
        {
            if (DateTime.UtcNow > assigned) throw new TimeoutException("The checkpoint agent was not assigned within 30 s.");
            await Task.Delay(100);
        }

        // Eight clients charging and refunding for four seconds.
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(4));
        var clients = Enumerable.Range(0, 8).Select(_ => app.Client(LedgerApp.Acme)).ToList();
        var load = clients.Select(async client =>
        {
            var charged = 0;
            while (!stop.IsCancellationRequested)
            {
                var response = await client.Charge(Requests.Charge(amount: 1000 + charged));
                response.StatusCode.ShouldBe(System.Net.HttpStatusCode.Created, await response.Content.ReadAsStringAsync());
                if (charged++ % 3 == 0)
                {
                    var id = (await response.Json()).Str("id");
                    var refund = await client.PostJson($"/v1/payments/{id}/refunds", new System.Text.Json.Nodes.JsonObject { ["amount"] = 10 }, Requests.NewKey());
                    refund.StatusCode.ShouldBe(System.Net.HttpStatusCode.Created);
                }
            }
            return charged;
        }).ToList();
        var charges = (await Task.WhenAll(load)).Sum();
        charges.ShouldBeGreaterThan(8);

        // The host's agent catches up by itself: wait (bounded) until a checkpoint covers every event.
        var events = await app.Database.ScalarAsync<long>("select count(*) from ledger.events");
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (CheckpointEventCounts().LastOrDefault() < events)
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"No checkpoint covers all {events} events after 30 s: {CheckpointEventCounts().LastOrDefault()}.");
            await Task.Delay(200);
        }
        var counts = CheckpointEventCounts();
        counts.Count.ShouldBeGreaterThanOrEqualTo(3); // one a second while the load ran
        counts.ShouldBe(counts.Order().ToList());

        var (exit, output) = await Cli.Run(app, "audit", "verify", "--checkpoints", app.CheckpointFile, "--public-key", app.PublicKeyFile);
        exit.ShouldBe(ExitCodes.Ok, output);
        output.ShouldContain($"Checked {events:N0} events");
        output.ShouldContain("the log is what the checkpoints signed");
        (await app.Database.ScalarAsync<long>("select count(*) from ledger.audit_checkpoints")).ShouldBe(counts.Count);
    }

    private List<long> CheckpointEventCounts() => File.Exists(app.CheckpointFile)
        ? [.. CheckpointFile.Read(app.CheckpointFile).Select(l => l.Checkpoint!.EventCount)]
        : [];
}
