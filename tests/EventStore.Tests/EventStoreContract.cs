using System.Security.Cryptography;
using System.Text;
using Npgsql;
using Shouldly;
using Xunit;

namespace Ledger.EventStore.Tests;

public sealed class EventStoreContract(TestDatabaseWithStore db) : IClassFixture<TestDatabaseWithStore>
{
    private EventLog<ThingHappened> Store => db.Store;
    private static readonly EventMetadata Meta = new("corr-1", "cause-1", "key-1", "tester");

    private static string NewStream() => $"thing-{Guid.NewGuid():N}";

    [Fact]
    public async Task Appending_to_a_new_stream_numbers_its_events_from_1()
    {
        var stream = NewStream();
        var result = await Store.AppendAsync(stream, 0, [Thing.At("a", 1), Thing.At("b", 2)], Meta);

        result.Version.ShouldBe(2);
        result.Sequences.Count.ShouldBe(2);
        result.Sequences[1].ShouldBeGreaterThan(result.Sequences[0]);
        var events = await Store.ReadStreamAsync(stream);
        events.Select(e => (e.Version, e.Data.What, e.Type)).ShouldBe([(1L, "a", "thing_happened"), (2L, "b", "thing_happened")]);
        events[0].Metadata.ShouldBe(Meta);
        events[0].OccurredAt.ShouldBe(Thing.Minute(1));
        (await db.Database.ScalarAsync<long>("select version from ledger.streams where stream_id = $1", stream)).ShouldBe(2);
    }

    [Fact]
    public async Task Appending_at_the_current_version_extends_the_stream()
    {
        var stream = NewStream();
        await Store.AppendAsync(stream, 0, [Thing.At("a", 1)], Meta);
        var result = await Store.AppendAsync(stream, 1, [Thing.At("b", 2)], Meta);

        result.Version.ShouldBe(2);
        (await Store.ReadStreamAsync(stream)).Select(e => e.Data.What).ShouldBe(["a", "b"]);
    }

    [Fact]
    public async Task Creating_a_stream_that_exists_is_a_conflict()
    {
        var stream = NewStream();
        await Store.AppendAsync(stream, 0, [Thing.At("a", 1)], Meta);

        var conflict = await Should.ThrowAsync<ConcurrencyException>(() => Store.AppendAsync(stream, 0, [Thing.At("again", 2)], Meta));
        conflict.StreamId.ShouldBe(stream);
        (await Store.ReadStreamAsync(stream)).Select(e => e.Data.What).ShouldBe(["a"]);
    }

    [Theory]
    [InlineData(1)] // stale: someone appended since
    [InlineData(5)] // ahead of the stream: would leave a gap
    public async Task Appending_at_a_version_the_stream_is_not_at_is_a_conflict_and_writes_nothing(long expected)
    {
        var stream = NewStream();
        await Store.AppendAsync(stream, 0, [Thing.At("a", 1), Thing.At("b", 2)], Meta);

        await Should.ThrowAsync<ConcurrencyException>(() => Store.AppendAsync(stream, expected, [Thing.At("late", 3)], Meta));
        (await Store.ReadStreamAsync(stream)).Select(e => e.Data.What).ShouldBe(["a", "b"]);
    }

    [Fact]
    public async Task Of_racing_appends_at_the_same_version_exactly_one_wins()
    {
        var stream = NewStream();
        await Store.AppendAsync(stream, 0, [Thing.At("first", 1)], Meta);

        var racers = Enumerable.Range(0, 20).Select(async i =>
        {
            try
            {
                await Store.AppendAsync(stream, 1, [Thing.At($"racer-{i}", 2)], Meta);
                return true;
            }
            catch (ConcurrencyException)
            {
                return false;
            }
        });
        var outcomes = await Task.WhenAll(racers);

        outcomes.Count(won => won).ShouldBe(1);
        var events = await Store.ReadStreamAsync(stream);
        events.Select(e => e.Version).ShouldBe([1L, 2L]);
        events[1].Data.What.ShouldStartWith("racer-");
    }

    [Fact]
    public async Task Of_racing_creators_of_one_stream_exactly_one_wins()
    {
        var stream = NewStream();
        var outcomes = await Task.WhenAll(Enumerable.Range(0, 10).Select(async i =>
        {
            try { await Store.AppendAsync(stream, 0, [Thing.At($"creator-{i}", 1)], Meta); return true; }
            catch (ConcurrencyException) { return false; }
        }));

        outcomes.Count(won => won).ShouldBe(1);
        (await Store.ReadStreamAsync(stream)).Count.ShouldBe(1);
    }

    [Fact]
    public async Task A_stream_can_be_read_up_to_a_version_or_up_to_a_moment()
    {
        var stream = NewStream();
        await Store.AppendAsync(stream, 0, [Thing.At("a", 1), Thing.At("b", 2), Thing.At("c", 3)], Meta);

        (await Store.ReadStreamAsync(stream, toVersion: 2)).Select(e => e.Data.What).ShouldBe(["a", "b"]);
        (await Store.ReadStreamAsync(stream, toTime: Thing.Minute(1))).Select(e => e.Data.What).ShouldBe(["a"]);
        (await Store.ReadStreamAsync(stream, toTime: Thing.Minute(2).AddSeconds(30))).Select(e => e.Data.What).ShouldBe(["a", "b"]);
        (await Store.ReadStreamAsync(stream, toTime: Thing.Minute(0))).ShouldBeEmpty();
        (await Store.ReadStreamAsync("no-such-stream")).ShouldBeEmpty();
    }

    [Fact]
    public async Task Each_event_hashes_its_predecessor_and_its_own_canonical_text()
    {
        var stream = NewStream();
        await Store.AppendAsync(stream, 0, [Thing.At("a", 1)], Meta);
        await Store.AppendAsync(stream, 1, [Thing.At("b", 2)], Meta);

        var events = await Store.ReadStreamAsync(stream);
        events[0].PreviousHash.ShouldBeNull();
        events[1].PreviousHash.ShouldBe(events[0].Hash);
        foreach (var e in events)
        {
            // The documented rule (docs/events.md), computed here from what the database returns: the content hash of
            // the six lines, then its link to the previous hash.
            var canonical = $"{e.StreamId}\n{e.Version}\n{e.Type}\n{e.OccurredAt.UtcDateTime:yyyy-MM-ddTHH:mm:ss.ffffff}Z\n{HashChain.Json(e.DataJson)}\n{HashChain.Json(e.MetadataJson)}";
            var content = SHA256.HashData(Encoding.UTF8.GetBytes(canonical));
            e.Hash.ShouldBe(SHA256.HashData([.. e.PreviousHash ?? [], .. content]));
        }
    }

    [Fact]
    public async Task An_event_written_without_its_content_hash_is_refused_and_the_hash_header_is_not_kept()
    {
        var stream = NewStream();
        await Store.AppendAsync(stream, 0, [Thing.At("a", 1)], Meta);
        (await db.Database.ScalarAsync<string>("select headers::text from ledger.mt_events where stream_id = $1", stream))
            .ShouldBe("""{"idempotencyKey": "key-1"}""");

        var insert = await Should.ThrowAsync<PostgresException>(() => db.Database.ExecuteAsync("""
            insert into ledger.mt_events (seq_id, id, stream_id, version, data, type, timestamp, tenant_id, is_archived)
            values (nextval('ledger.mt_events_sequence'), gen_random_uuid(), $1, 2, '{}', 'thing_happened', now(), '*DEFAULT*', false)
            """, stream));

        insert.SqlState.ShouldBe("LDG04");
        (await Store.ReadStreamAsync(stream)).Count.ShouldBe(1);
    }

    [Fact]
    public async Task Events_cannot_be_updated_or_deleted()
    {
        var stream = NewStream();
        await Store.AppendAsync(stream, 0, [Thing.At("a", 1)], Meta);

        var update = await Should.ThrowAsync<PostgresException>(() =>
            db.Database.ExecuteAsync("update ledger.mt_events set data = '{}' where stream_id = $1", stream));
        update.SqlState.ShouldBe("LDG02");
        var delete = await Should.ThrowAsync<PostgresException>(() =>
            db.Database.ExecuteAsync("delete from ledger.mt_events where stream_id = $1", stream));
        delete.SqlState.ShouldBe("LDG02");
        (await Store.ReadStreamAsync(stream)).Single().DataJson.ShouldContain("\"a\"");
    }

    [Fact]
    public async Task Inline_projections_and_side_records_commit_with_the_append()
    {
        var stream = NewStream();
        await Store.AppendAsync(stream, 0, [Thing.At("a", 1), Thing.At("b", 2)], Meta, commands => commands.Add(SideRecord(stream)));

        (await db.Database.ScalarAsync<long>("select count(*) from seen where stream_id = $1", stream)).ShouldBe(2);
        (await db.Database.ScalarAsync<long>("select count(*) from side_records where key = $1", stream)).ShouldBe(1);
    }

    [Fact]
    public async Task Inline_projections_and_side_records_roll_back_with_a_conflicting_append()
    {
        var stream = NewStream();
        await Store.AppendAsync(stream, 0, [Thing.At("a", 1)], Meta);

        await Should.ThrowAsync<ConcurrencyException>(() =>
            Store.AppendAsync(stream, 0, [Thing.At("b", 2)], Meta, commands => commands.Add(SideRecord(stream))));

        (await db.Database.ScalarAsync<long>("select count(*) from seen where stream_id = $1", stream)).ShouldBe(1);
        (await db.Database.ScalarAsync<long>("select count(*) from side_records where key = $1", stream)).ShouldBe(0);
    }

    [Fact]
    public async Task A_failing_side_record_rolls_back_the_append_and_its_projections()
    {
        var stream = NewStream();
        await db.Database.ExecuteAsync("insert into side_records (key) values ($1)", stream);

        var failure = await Should.ThrowAsync<PostgresException>(() =>
            Store.AppendAsync(stream, 0, [Thing.At("a", 1)], Meta, commands => commands.Add(SideRecord(stream))));

        failure.SqlState.ShouldBe(PostgresErrorCodes.UniqueViolation);
        (await Store.ReadStreamAsync(stream)).ShouldBeEmpty();
        (await db.Database.ScalarAsync<long>("select count(*) from seen where stream_id = $1", stream)).ShouldBe(0);
        (await db.Database.ScalarAsync<long>("select count(*) from ledger.streams where stream_id = $1", stream)).ShouldBe(0);
    }

    private static NpgsqlBatchCommand SideRecord(string key)
    {
        var cmd = new NpgsqlBatchCommand("insert into side_records (key) values ($1)");
        cmd.Parameters.Add(new() { Value = key });
        return cmd;
    }
}

/// <summary>A database with the event store schema, a test projection and a side-record table.</summary>
public sealed class TestDatabaseWithStore : IAsyncLifetime
{
    public Ledger.Testing.TestDatabase Database { get; } = new();
    public NpgsqlDataSource DataSource { get; private set; } = null!;
    public EventLog<ThingHappened> Store { get; private set; } = null!;

    public async ValueTask InitializeAsync()
    {
        await Database.InitializeAsync();
        DataSource = Database.CreateDataSource();
        await Database.ExecuteAsync(SeenProjection.Schema);
        await Database.ExecuteAsync("create table if not exists side_records (key text primary key)");
        Store = await MartenEventLog.OpenAsync(DataSource, new ThingCodec(), [new SeenProjection()]);
    }

    public async ValueTask DisposeAsync() => await DataSource.DisposeAsync();
}

public sealed class ImportContract(TestDatabaseWithStore db) : IClassFixture<TestDatabaseWithStore>
{
    [Fact]
    public async Task Imported_streams_read_back_and_chain_like_appended_ones()
    {
        var streams = Enumerable.Range(0, 25).Select(i =>
            ($"imported-{Guid.NewGuid():N}", (IReadOnlyList<ThingHappened>)[Thing.At($"a{i}", 1), Thing.At($"b{i}", 2), Thing.At($"c{i}", 3)])).ToList();

        var written = await db.Store.ImportAsync(streams, new EventMetadata(Actor: "importer"), chunk: 10);

        written.ShouldBe(75);
        foreach (var (id, _) in streams)
        {
            var events = await db.Store.ReadStreamAsync(id);
            events.Select(e => e.Version).ShouldBe([1L, 2L, 3L]);
            HashChain.Check(events, recordedVersion: 3).ShouldBeEmpty();
        }
        var appended = await db.Store.AppendAsync(streams[0].Item1, 3, [Thing.At("d", 4)], new EventMetadata());
        appended.Version.ShouldBe(4); // the database continues the chain the import started
        HashChain.Check(await db.Store.ReadStreamAsync(streams[0].Item1), recordedVersion: 4).ShouldBeEmpty();
    }

    [Fact]
    public async Task Importing_a_stream_that_exists_fails_and_writes_nothing_of_its_chunk()
    {
        var existing = $"exists-{Guid.NewGuid():N}";
        await db.Store.AppendAsync(existing, 0, [Thing.At("x", 1)], new EventMetadata());
        var fresh = $"fresh-{Guid.NewGuid():N}";

        await Should.ThrowAsync<PostgresException>(() => db.Store.ImportAsync(
            [(fresh, [Thing.At("y", 1)]), (existing, [Thing.At("z", 1)])], new EventMetadata()));

        (await db.Store.ReadStreamAsync(fresh)).ShouldBeEmpty();
        (await db.Store.ReadStreamAsync(existing)).Count.ShouldBe(1);
    }
}
