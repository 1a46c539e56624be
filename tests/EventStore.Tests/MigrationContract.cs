using Shouldly;
using Xunit;

namespace Ledger.EventStore.Tests;

public sealed class MigrationContract : IAsyncLifetime
{
    private readonly Ledger.Testing.TestDatabase _db = new();

    public ValueTask InitializeAsync() => _db.InitializeAsync();
    public ValueTask DisposeAsync() => _db.DisposeAsync();

    [Fact]
    public async Task Migrating_twice_applies_each_migration_once_and_records_it()
    {
        await using var ds = _db.CreateDataSource();
        var migrator = new SchemaMigrator(ds);
        (await migrator.PendingAsync(Migration.EventStore)).ShouldNotBeEmpty();

        var first = await migrator.MigrateAsync(Migration.EventStore);
        var second = await migrator.MigrateAsync(Migration.EventStore);

        first.Count.ShouldBe(Migration.EventStore.Count);
        second.ShouldBeEmpty();
        (await migrator.PendingAsync(Migration.EventStore)).ShouldBeEmpty();
        (await _db.ScalarAsync<long>("select count(*) from schema_migrations where module = 'event_store'")).ShouldBe(Migration.EventStore.Count);
    }

    [Fact]
    public async Task Processes_migrating_at_once_do_not_trip_over_each_other()
    {
        await using var ds = _db.CreateDataSource();
        await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => new SchemaMigrator(ds).MigrateAsync(Migration.EventStore)));

        (await new SchemaMigrator(ds).PendingAsync(Migration.EventStore)).ShouldBeEmpty();
    }
}
