using Ledger.Domain.Payments;
using Ledger.EventStore;
using Ledger.Projections.Rebuild;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using Shouldly;
using Xunit;

namespace Ledger.Api.Tests;

/// <summary>
/// `audit verify` reads in one snapshot and writes nothing, so it takes no transaction id: the commit-safe horizon (the
/// oldest transaction running) moves on while it runs, and the global log, the digest and a rebuild's catch-up keep
/// seeing new commits. An audit that wrote anything (temporary tables, say) would pin the horizon until it ended.
/// </summary>
public sealed class AuditHoldsNoReaderBackSpecs(LedgerApp app) : IClassFixture<LedgerApp>
{
    [Fact]
    public async Task While_an_audit_runs_a_transaction_committed_meanwhile_falls_below_the_commit_safe_horizon()
    {
        await Cli.SomePaymentWithARefund(app);
        var db = app.Services.GetRequiredService<NpgsqlDataSource>();
        var audit = new ReadModelAudit(db, app.Services.GetRequiredService<EventLog<PaymentEvent>>());
        var checkedDuringTheAudit = new DuringTheAudit(db);

        var report = await audit.RunAsync(checkedDuringTheAudit, TestContext.Current.CancellationToken);

        report.Clean.ShouldBeTrue(string.Join("\n", report.Discrepancies));
        checkedDuringTheAudit.Checks.ShouldBeGreaterThan(0, "the audit reports progress at least once, after its fold");
        checkedDuringTheAudit.Failure.ShouldBeNull();
    }

    /// <summary>
    /// On each progress report, inside the audit: commit a transaction, then wait (bounded) for the horizon to pass it.
    /// Other test classes share the server and may hold the horizon for a moment; the audit would hold it for good.
    /// </summary>
    private sealed class DuringTheAudit(NpgsqlDataSource db) : IProgress<(long Done, long Total)>
    {
        public int Checks { get; private set; }
        public string? Failure { get; private set; }

        public void Report((long Done, long Total) value)
        {
            Checks++;
            using var connection = db.OpenConnection();
            ulong committed;
            using (var tx = connection.BeginTransaction())
            using (var take = new NpgsqlCommand("select pg_current_xact_id()::text::bigint", connection, tx))
            {
                committed = (ulong)(long)take.ExecuteScalar()!;
                tx.Commit();
            }
            var deadline = DateTime.UtcNow.AddSeconds(15);
            using var horizon = new NpgsqlCommand("select pg_snapshot_xmin(pg_current_snapshot())::text::bigint", connection);
            while ((ulong)(long)horizon.ExecuteScalar()! <= committed)
            {
                if (DateTime.UtcNow > deadline)
                {
                    Failure = $"after {value.Done} of {value.Total} events, the horizon stayed at or below transaction {committed} for 15 s";
                    return;
                }
                Thread.Sleep(50);
            }
        }
    }
}
