using Microsoft.Extensions.Options;
using Npgsql;

namespace Ledger.Host.Gateway;

public sealed class SimulatorOptions
{
    /// <summary>Delay after the charge is booked, before answering: the window in which a crash tests recovery.</summary>
    public int LatencyMs { get; set; }
}

/// <summary>
/// Answers by test card number (CONTRACT.md) and books every charge in its own table, once per gateway key,
/// exactly as a real gateway honours its idempotency keys.
/// </summary>
public sealed class SimulatedGateway(SimulatedGateway.Books books, IOptions<SimulatorOptions> options) : IPaymentGateway
{
    /// <summary>
    /// The simulator's own connections. It stands in for another company's system, so its writes do not wait
    /// for the ledger's WAL flush (synchronous_commit off): a booking is visible to everyone at once, which is
    /// what the tests count, and only a crash of PostgreSQL itself could lose the last few. The ledger's own
    /// transactions keep synchronous commits.
    /// </summary>
    public sealed class Books(NpgsqlDataSource source) : IAsyncDisposable
    {
        public NpgsqlDataSource Source { get; } = source;
        public ValueTask DisposeAsync() => Source.DisposeAsync();
    }

    private NpgsqlDataSource DataSource => books.Source;

    private static readonly Dictionary<string, string> DeclinesByCard = new()
    {
        ["4000000000000002"] = DeclineCodes.CardDeclined,
        ["4000000000009995"] = DeclineCodes.InsufficientFunds,
        ["4000000000000069"] = DeclineCodes.ExpiredCard,
        ["4000000000000127"] = DeclineCodes.IncorrectCvc,
    };

    public const string TransientFailureCard = "4000000000000119";

    public async Task<GatewayOutcome> ChargeAsync(GatewayCharge charge, CancellationToken ct)
    {
        if (charge.CardNumber == TransientFailureCard)
            return new GatewayOutcome.Declined(DeclineCodes.ProcessingError, DeclineCodes.MessageFor(DeclineCodes.ProcessingError), Transient: true);

        var declined = DeclinesByCard.GetValueOrDefault(charge.CardNumber);
        // First writer wins; a repeat with the same key reads back what was booked (or fenced) the first time.
        await using var cmd = DataSource.CreateCommand("""
            with booked as (
                insert into gateway_simulator_charges (gateway_key, merchant_id, amount, currency, outcome, code, reference)
                values ($1, $2, $3, $4, $5, $6, $7)
                on conflict (gateway_key) do nothing
                returning outcome, code, reference
            )
            select outcome, code, reference from booked
            union all
            select outcome, code, reference from gateway_simulator_charges where gateway_key = $1
            limit 1
            """);
        foreach (var v in new object?[] { charge.GatewayKey, charge.MerchantId, charge.Amount, charge.Currency,
                     declined is null ? "approved" : "declined", declined, declined is null ? $"ch_{Guid.NewGuid():N}" : null })
            cmd.Parameters.Add(new NpgsqlParameter { Value = v ?? DBNull.Value });
        var outcome = await ReadOutcome(cmd, ct);
        if (options.Value.LatencyMs > 0) await Task.Delay(options.Value.LatencyMs, ct);
        return outcome;
    }

    public async Task<GatewayOutcome> LookupAsync(string gatewayKey, CancellationToken ct)
    {
        await using var cmd = DataSource.CreateCommand("""
            with fenced as (
                insert into gateway_simulator_charges (gateway_key, outcome, code) values ($1, 'abandoned', 'processing_error')
                on conflict (gateway_key) do nothing
                returning outcome, code, reference
            )
            select outcome, code, reference from fenced
            union all
            select outcome, code, reference from gateway_simulator_charges where gateway_key = $1
            limit 1
            """);
        cmd.Parameters.Add(new NpgsqlParameter { Value = gatewayKey });
        return await ReadOutcome(cmd, ct);
    }

    private static async Task<GatewayOutcome> ReadOutcome(NpgsqlCommand cmd, CancellationToken ct)
    {
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        await reader.ReadAsync(ct);
        return reader.GetString(0) switch
        {
            "approved" => new GatewayOutcome.Approved(reader.GetString(2)),
            "abandoned" => new GatewayOutcome.Declined(DeclineCodes.ProcessingError,
                "The charge was interrupted before it reached the gateway; no money moved."),
            _ => new GatewayOutcome.Declined(reader.GetString(1), DeclineCodes.MessageFor(reader.GetString(1))),
        };
    }
}
