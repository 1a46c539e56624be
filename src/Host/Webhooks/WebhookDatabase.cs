using Npgsql;

namespace Ledger.Host.Webhooks;

/// <summary>
/// The fan-out's and the dispatcher's connections: a pool of their own (`ledger-webhooks`) whose commits do not wait for
/// the WAL to reach the disk (<c>synchronous_commit=off</c>). What they write can be lost only in a crash of PostgreSQL
/// itself, and then it is done again: a fan-out commit is always followed by Wolverine's (synchronous) commit marking its
/// notifications handled, which flushes the WAL up to and past it, so a lost fan-out leaves its notifications to be
/// handled again; a lost attempt leaves its delivery pending, to be sent again (at least once, as always). Waiting for
/// the disk there held the dispatcher's slots for as long as a WAL flush took (seconds, under load, on a slow disk).
/// The API's own writes to these tables (endpoints created, deleted, deliveries retried) stay on the main pool.
/// </summary>
public sealed class WebhookDatabase(IConfiguration configuration) : IAsyncDisposable
{
    public NpgsqlDataSource Source { get; } = NpgsqlDataSource.Create(new NpgsqlConnectionStringBuilder(
        configuration.GetConnectionString("Ledger") ?? throw new InvalidOperationException("ConnectionStrings:Ledger is not set (env ConnectionStrings__Ledger)."))
    {
        Options = "-c synchronous_commit=off", ApplicationName = "ledger-webhooks", NoResetOnClose = true, MaxAutoPrepare = 16, AutoPrepareMinUsages = 2,
    }.ConnectionString);

    public ValueTask DisposeAsync() => Source.DisposeAsync();
}
