using Ledger.Testing;
using Shouldly;

namespace Ledger.Api.Tests;

/// <summary>
/// The gateway simulator's books against the ledger's, in both directions. The simulator records every booking as a
/// row of its own, so each count below can be non-zero: a key charged twice is two approved rows.
/// </summary>
public static class GatewayBooks
{
    /// <summary>Payments the gateway charged more than once.</summary>
    public const string ChargedTwice = """
        select count(*) from (
            select gateway_key from gateway_simulator_charges where outcome = 'approved'
            group by gateway_key having count(*) > 1) twice
        """;

    /// <summary>Payments the ledger calls charged (or still pending) that the gateway never charged.</summary>
    public const string LedgerChargedGatewayNot = """
        select count(*) from payment_views v
        where v.status not in ('failed', 'pending')
          and not exists (select 1 from gateway_simulator_charges g where g.gateway_key = v.id and g.outcome = 'approved')
        """;

    /// <summary>Money the gateway took for a payment the ledger shows as failed, or does not have at all.</summary>
    public const string GatewayChargedLedgerNot = """
        select count(*) from gateway_simulator_charges g
        where g.outcome = 'approved'
          and not exists (select 1 from payment_views v where v.id = g.gateway_key and v.status <> 'failed')
        """;

    public static async Task ShouldAgreeWithTheLedger(TestDatabase db)
    {
        (await db.ScalarAsync<long>(ChargedTwice)).ShouldBe(0, "payments charged twice at the gateway");
        (await db.ScalarAsync<long>(LedgerChargedGatewayNot)).ShouldBe(0, "payments the ledger shows charged that the gateway did not charge");
        (await db.ScalarAsync<long>(GatewayChargedLedgerNot)).ShouldBe(0, "gateway charges whose ledger payment is failed or missing");
    }
}
