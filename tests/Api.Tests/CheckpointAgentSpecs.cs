using System.Diagnostics;
using System.Net;
using Ledger.EventStore.Audit;
using Ledger.Testing;
using Shouldly;
using Xunit;

namespace Ledger.Api.Tests;

/// <summary>
/// Issue 13: of the hosts sharing a database exactly one signs checkpoints (a Wolverine singular agent), so the
/// checkpoint file has one writer; when that host dies, another takes the agent over and goes on from the last
/// checkpoint the database recorded. Two real host processes, one database, one signing key, a checkpoint file each
/// (so the specs can see which host wrote what).
/// </summary>
public sealed class CheckpointAgentSpecs(ITestOutputHelper output) : IAsyncLifetime
{
    private const string Owner = "select node_id from wolverine.wolverine_node_assignments where id like 'ledger-checkpoints:%'";
    private readonly TestDatabase _db = new();
    private readonly string _dir = Directory.CreateTempSubdirectory("ledger-checkpoint-agent-").FullName;
    private HostProcess _first = null!, _second = null!;
    private string Key => Path.Combine(_dir, "key.pem");
    private string FileOf(string host) => Path.Combine(_dir, $"{host}.jsonl");

    public async ValueTask InitializeAsync()
    {
        await _db.InitializeAsync();
        using (var key = CheckpointKey.Generate()) await File.WriteAllTextAsync(Key, key.PrivateKeyPem);
        _first = new HostProcess(_db.ConnectionString, Settings("first"));
        _second = new HostProcess(_db.ConnectionString, Settings("second"));
    }

    private Dictionary<string, string> Settings(string host) => HostProcess.FastRecovery(
        ("Ledger:Audit:CheckpointEvery", "00:00:01"), ("Ledger:Audit:SigningKeyFile", Key), ("Ledger:Audit:CheckpointFile", FileOf(host)));

    [Fact]
    public async Task Two_hosts_sign_checkpoints_from_one_of_them_and_the_survivor_goes_on_when_it_is_killed()
    {
        await _first.StartAsync();
        await _db.WaitUntil($"select exists ({Owner})");
        await _second.StartAsync();
        await _db.WaitUntil("select count(*) = 2 from wolverine.wolverine_nodes");

        // Both hosts take charges; several checkpoint rounds and assignment rounds (every 5 s) pass.
        await ChargeThrough(_first, 5);
        await ChargeThrough(_second, 5);
        await CheckpointCoveringAllEvents();
        await Task.Delay(TimeSpan.FromSeconds(6), TestContext.Current.CancellationToken);
        (await _db.ScalarAsync<long>("select count(*) from wolverine.wolverine_node_assignments where id like 'ledger-checkpoints:%'")).ShouldBe(1);
        File.Exists(FileOf("first")).ShouldBeTrue();
        File.Exists(FileOf("second")).ShouldBeFalse("the second host signed a checkpoint while the first one held the agent");
        var byFirst = Lines("first");
        byFirst.Select(c => c.EventCount).ShouldBe(byFirst.Select(c => c.EventCount).Order().Distinct(), "one writer: counts only grow");
        (await Recorded()).ShouldBe(byFirst, "the database holds what the file holds, line for line");

        var killed = Stopwatch.StartNew();
        await _first.KillAsync();
        await ChargeThrough(_second, 3);
        await CheckpointCoveringAllEvents(TimeSpan.FromSeconds(60));
        output.WriteLine($"The surviving host signed a checkpoint covering every event {killed.Elapsed.TotalSeconds:F1} s after the first was killed.");

        var bySecond = Lines("second");
        bySecond.ShouldNotBeEmpty();
        bySecond[0].EventCount.ShouldBeGreaterThan(byFirst[^1].EventCount);
        var both = byFirst.Concat(bySecond).ToList();
        both.Select(c => c.EventCount).ShouldBe(both.Select(c => c.EventCount).Order().Distinct(), "the survivor went on where the first stopped");
        // The first host was idle when it was killed (a checkpoint is signed only when the log grew): nothing was
        // half written, and the database holds both files' lines, in order.
        (await Recorded()).ShouldBe(both);
        using var publicKey = CheckpointKey.Load(Key);
        both.ShouldAllBe(c => publicKey.Verifies(c));
    }

    private async Task ChargeThrough(HostProcess host, int payments)
    {
        using var client = host.Client(LedgerApp.Acme);
        for (var i = 0; i < payments; i++)
            (await client.Charge(Requests.Charge(amount: 1000 + i))).StatusCode.ShouldBe(HttpStatusCode.Created);
    }

    private async Task CheckpointCoveringAllEvents(TimeSpan? within = null)
    {
        var deadline = DateTime.UtcNow + (within ?? TimeSpan.FromSeconds(30));
        while (await _db.ScalarAsync<long>("select coalesce(max(event_count), 0) from ledger.audit_checkpoints")
               < await _db.ScalarAsync<long>("select count(*) from ledger.events"))
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException("No checkpoint covers every event in time.");
            await Task.Delay(200);
        }
    }

    private List<Checkpoint> Lines(string host) =>
        File.Exists(FileOf(host)) ? CheckpointFile.Read(FileOf(host)).Select(l => l.Checkpoint!).ToList() : [];

    private async Task<List<Checkpoint>> Recorded()
    {
        var recorded = new List<Checkpoint>();
        await using var db = _db.CreateDataSource();
        await using var cmd = db.CreateCommand("select position, event_count, root, at, key_id, signature from ledger.audit_checkpoints order by event_count");
        await using var reader = await cmd.ExecuteReaderAsync();
        while (await reader.ReadAsync())
            recorded.Add(new Checkpoint(reader.GetInt64(0), reader.GetInt64(1), Convert.ToHexStringLower(reader.GetFieldValue<byte[]>(2)),
                reader.GetFieldValue<DateTimeOffset>(3), reader.GetString(4), Convert.ToBase64String(reader.GetFieldValue<byte[]>(5))));
        return recorded;
    }

    public async ValueTask DisposeAsync()
    {
        await _first.DisposeAsync();
        await _second.DisposeAsync();
        await _db.DisposeAsync();
        Directory.Delete(_dir, recursive: true);
    }
}
