using Npgsql;
using Shouldly;
using Xunit;

namespace Ledger.EventStore.Tests;

/// <summary>
/// The global log read in commit-safe order. The snapshot's xmin is cluster-wide: a transaction open in any
/// database holds the reader back (late, never wrong). These tests assert exactly where the reader stops, so
/// they run alone rather than beside other classes' transactions.
/// </summary>
[CollectionDefinition(nameof(GlobalLogContract), DisableParallelization = true)]
public sealed class GlobalLogCollection;

[Collection(nameof(GlobalLogContract))]
public sealed class GlobalLogContract(TestDatabaseWithStore db) : IClassFixture<TestDatabaseWithStore>
{
    private EventLog<ThingHappened> Store => db.Store;
    private static readonly EventMetadata Meta = new(Actor: "tester");
    private readonly List<long> _delivered = [];
    private long _cursor;

    [Fact]
    public async Task The_reader_stops_before_a_transaction_in_flight_and_delivers_everything_once_after_it_commits()
    {
        await DrainAsync();
        await Store.AppendAsync("before", 0, [Thing.At("before", 1)], Meta);

        await using var slow = await db.DataSource.OpenConnectionAsync();
        await using var slowTx = await slow.BeginTransactionAsync();
        var slowSequence = await AppendInside(slowTx, "slow");            // takes its sequence first...
        var fast1 = (await Store.AppendAsync("fast-1", 0, [Thing.At("fast-1", 2)], Meta)).Sequences.Single();
        var fast2 = (await Store.AppendAsync("fast-2", 0, [Thing.At("fast-2", 3)], Meta)).Sequences.Single();
        fast1.ShouldBeGreaterThan(slowSequence);                        // ...and the later ones commit first.

        var whileInFlight = await DrainAsync();
        whileInFlight.Select(e => e.StreamId).ShouldBe(["before"]);    // stops before the gap

        await slowTx.CommitAsync();
        var afterCommit = await DrainAsync();
        afterCommit.Select(e => e.Sequence).ShouldBe([slowSequence, fast1, fast2]);
        (await DrainAsync()).ShouldBeEmpty();
        _delivered.ShouldBeUnique();
    }

    [Fact]
    public async Task A_transaction_that_started_first_but_took_its_sequence_last_is_neither_skipped_nor_repeated()
    {
        await DrainAsync();
        await using var early = await db.DataSource.OpenConnectionAsync();
        await using var earlyTx = await early.BeginTransactionAsync();
        await using (var takeId = new NpgsqlCommand("select pg_current_xact_id()", early)) await takeId.ExecuteScalarAsync();

        await using var late = await db.DataSource.OpenConnectionAsync();
        await using var lateTx = await late.BeginTransactionAsync();
        var lateSequence = await AppendInside(lateTx, "late-xid-low-sequence");
        var earlySequence = await AppendInside(earlyTx, "early-xid-high-sequence");
        earlySequence.ShouldBeGreaterThan(lateSequence);

        await earlyTx.CommitAsync();
        (await DrainAsync()).Select(e => e.Sequence).ShouldBe([earlySequence]);

        await lateTx.CommitAsync();
        (await DrainAsync()).Select(e => e.Sequence).ShouldBe([lateSequence]);
        _delivered.ShouldBeUnique();
    }

    [Fact]
    public async Task A_rolled_back_append_leaves_a_gap_that_does_not_stop_the_reader()
    {
        await DrainAsync();
        await using (var connection = await db.DataSource.OpenConnectionAsync())
        await using (var tx = await connection.BeginTransactionAsync())
        {
            await AppendInside(tx, "rolled-back");
            await tx.RollbackAsync();
        }
        var after = (await Store.AppendAsync("after-rollback", 0, [Thing.At("x", 1)], Meta)).Sequences.Single();

        (await DrainAsync()).Select(e => e.Sequence).ShouldBe([after]);
    }

    [Fact]
    public async Task Pages_follow_each_other_without_overlap()
    {
        await DrainAsync();
        var written = new List<long>();
        for (var i = 0; i < 25; i++)
            written.AddRange((await Store.AppendAsync($"paged-{i}", 0, [Thing.At("p", i)], Meta)).Sequences);

        var first = await Store.ReadAllAsync(_cursor, 10);
        var second = await Store.ReadAllAsync(first.NextAfter, 10);
        var third = await Store.ReadAllAsync(second.NextAfter, 10);

        (first.HasMore, second.HasMore, third.HasMore).ShouldBe((true, true, false));
        first.Events.Concat(second.Events).Concat(third.Events).Select(e => e.Sequence).ShouldBe(written);
        var empty = await Store.ReadAllAsync(third.NextAfter, 10);
        empty.Events.ShouldBeEmpty();
        empty.NextAfter.ShouldBe(third.NextAfter);
    }

    private async Task<IReadOnlyList<StoredEvent<ThingHappened>>> DrainAsync()
    {
        var all = new List<StoredEvent<ThingHappened>>();
        LogPage<ThingHappened> page;
        do
        {
            page = await Store.ReadAllAsync(_cursor, 7);
            all.AddRange(page.Events);
            _cursor = page.NextAfter;
        } while (page.HasMore);
        _delivered.AddRange(all.Select(e => e.Sequence));
        return all;
    }

    /// <summary>Appends inside the caller's open transaction, as a slow writer would.</summary>
    private Task<long> AppendInside(NpgsqlTransaction transaction, string stream) =>
        Store.AppendAsync(stream, 0, [Thing.At(stream, 1)], Meta, transaction: transaction).ContinueWith(t => t.Result.Sequences.Single());
}
