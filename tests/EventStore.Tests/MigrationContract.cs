using Shouldly;
using Xunit;

namespace Ledger.EventStore.Tests;

public sealed class MigrationContract : IAsyncLifetime
{
    private readonly Ledger.Testing.TestDatabase _db = new();

    // Not idempotent on purpose: a step applied twice fails.
    private static readonly IReadOnlyList<Migration> Steps =
    [
        new("contract", 1, "001_first", "create table first_step (id int primary key)"),
        new("contract", 2, "002_second", "create table second_step (id int references first_step (id))"),
    ];

    public ValueTask InitializeAsync() => _db.InitializeAsync();
    public ValueTask DisposeAsync() => _db.DisposeAsync();

    [Fact]
    public async Task Migrating_twice_applies_each_migration_once_and_records_it()
    {
        await using var ds = _db.CreateDataSource();
        var migrator = new SchemaMigrator(ds);
        (await migrator.PendingAsync(Steps)).ShouldNotBeEmpty();

        var first = await migrator.MigrateAsync(Steps);
        var second = await migrator.MigrateAsync(Steps);

        first.Count.ShouldBe(Steps.Count);
        second.ShouldBeEmpty();
        (await migrator.PendingAsync(Steps)).ShouldBeEmpty();
        (await _db.ScalarAsync<long>("select count(*) from schema_migrations where module = 'contract'")).ShouldBe(Steps.Count);
    }

    [Fact]
    public async Task Processes_migrating_at_once_do_not_trip_over_each_other()
    {
        await using var ds = _db.CreateDataSource();
        await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => new SchemaMigrator(ds).MigrateAsync(Steps)));

        (await new SchemaMigrator(ds).PendingAsync(Steps)).ShouldBeEmpty();
    }

    [Fact]
    public async Task A_start_with_Martens_schema_recorded_skips_Martens_comparison_and_db_migrate_still_repairs_it()
    {
        await using var ds = _db.CreateDataSource();
        using var store = Marten.DocumentStore.For(options =>
        {
            options.Connection(ds);
            MartenEventLog.Configure(options, new ThingCodec(), [new SeenProjection()]);
        });
        await MartenEventLog.ApplySchemaAsync(store, ds); // a database's first start: Marten's comparison creates it all
        (await _db.ScalarAsync<long>("select count(*) from marten_schema_fingerprints")).ShouldBe(1);
        // A Marten object gone behind Marten's back: only a comparison with the database would notice.
        await _db.ExecuteAsync("drop function ledger.mt_quick_append_events");
        const string exists = "select count(*) from pg_proc join pg_namespace n on n.oid = pronamespace where nspname = 'ledger' and proname = 'mt_quick_append_events'";

        await MartenEventLog.ApplySchemaAsync(store, ds); // a start-up: the fingerprint is recorded

        (await _db.ScalarAsync<long>(exists)).ShouldBe(0);

        await MartenEventLog.ApplySchemaAsync(store, ds, compareMartensSchema: true); // `db migrate`

        (await _db.ScalarAsync<long>(exists)).ShouldBe(1);
        (await _db.ScalarAsync<long>("select count(*) from marten_schema_fingerprints")).ShouldBe(1);
    }
}
