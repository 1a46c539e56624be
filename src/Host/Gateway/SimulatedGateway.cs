using Microsoft.Extensions.Options;
using Npgsql;

namespace Ledger.Host.Gateway;

public sealed class SimulatorOptions
{
    /// <summary>Delay after the charge is booked, before answering: the window in which a crash tests recovery.</summary>
    public int LatencyMs { get; set; }
}

/// <summary>
/// Answers by test card number (docs/api.md) and books every charge it accepts in its own table, once per gateway
/// key, as a real gateway honours its idempotency keys; every booking is a row, so a key charged twice would show.
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

    /// <summary>Answers a transient processing_error to its first <see cref="FlakyFailures"/> attempts per key, then approves.</summary>
    public const string FlakyCard = "4000000000000135";
    public const int FlakyFailures = 2;

    // The key record says whether this gateway has seen a key; every booking is a row of its own. A repeat with a
    // known key books nothing and reads back the first booking, as a real gateway honours its idempotency keys.
    // Were the key record ever bypassed, a second approved row for the key would show it: the tests count them.
    private const string Book = """
        with claimed as (
            insert into gateway_simulator_keys (gateway_key) values ($1)
            on conflict (gateway_key) do nothing
            returning gateway_key
        ), booked as (
            insert into gateway_simulator_charges (gateway_key, merchant_id, amount, currency, outcome, code, reference)
            select $1, $2::text, $3::bigint, $4::text, $5::text, $6::text, $7::text from claimed
            returning outcome, code, reference
        )
        select outcome, code, reference from booked
        union all
        (select outcome, code, reference from gateway_simulator_charges
          where gateway_key = $1 and outcome <> 'transient' order by id limit 1)
        limit 1
        """;

    // The flaky card's refusals are attempts too: recorded, so the Nth attempt can succeed, and counted by the specs.
    private const string RefuseFlaky = """
        insert into gateway_simulator_charges (gateway_key, merchant_id, amount, currency, outcome, code)
        select $1, $2::text, $3::bigint, $4::text, 'transient', 'processing_error'
        where not exists (select 1 from gateway_simulator_keys where gateway_key = $1)
          and (select count(*) from gateway_simulator_charges where gateway_key = $1 and outcome = 'transient') < $5
        """;

    public async Task<GatewayOutcome> ChargeAsync(GatewayCharge charge, CancellationToken ct)
    {
        if (charge.CardNumber == TransientFailureCard || charge.CardNumber == FlakyCard && await RefusedAsFlaky(charge, ct))
            return new GatewayOutcome.Declined(DeclineCodes.ProcessingError, DeclineCodes.MessageFor(DeclineCodes.ProcessingError), Transient: true);

        var declined = DeclinesByCard.GetValueOrDefault(charge.CardNumber);
        var outcome = await BookAsync(ct, charge.GatewayKey, charge.MerchantId, charge.Amount, charge.Currency,
            declined is null ? "approved" : "declined", declined, declined is null ? $"ch_{Guid.NewGuid():N}" : null);
        if (options.Value.LatencyMs > 0) await Task.Delay(options.Value.LatencyMs, ct);
        return outcome;
    }

    /// <summary>A key this gateway never saw is fenced: booked as abandoned, so a late charge with it books nothing.</summary>
    public Task<GatewayOutcome> LookupAsync(string gatewayKey, CancellationToken ct) =>
        BookAsync(ct, gatewayKey, null, null, null, "abandoned", DeclineCodes.ProcessingError, null);

    private async Task<bool> RefusedAsFlaky(GatewayCharge charge, CancellationToken ct)
    {
        await using var cmd = Command(RefuseFlaky, charge.GatewayKey, charge.MerchantId, charge.Amount, charge.Currency, (long)FlakyFailures);
        return await cmd.ExecuteNonQueryAsync(ct) == 1;
    }

    private async Task<GatewayOutcome> BookAsync(CancellationToken ct, params object?[] values)
    {
        // A racing request with the same key waits on the key record, then finds the first booking committed after
        // its statement's snapshot was taken: it reads nothing. A new statement sees it.
        for (var attempt = 1; ; attempt++)
        {
            await using var cmd = Command(Book, values);
            if (await ReadOutcome(cmd, ct) is { } outcome) return outcome;
            if (attempt == 3) throw new InvalidOperationException($"The simulator found no booking for a key it had seen ({values[0]}).");
        }
    }

    private NpgsqlCommand Command(string sql, params object?[] values)
    {
        var cmd = DataSource.CreateCommand(sql);
        foreach (var v in values) cmd.Parameters.Add(new NpgsqlParameter { Value = v ?? DBNull.Value });
        return cmd;
    }

    private static async Task<GatewayOutcome?> ReadOutcome(NpgsqlCommand cmd, CancellationToken ct)
    {
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        if (!await reader.ReadAsync(ct)) return null;
        return reader.GetString(0) switch
        {
            "approved" => new GatewayOutcome.Approved(reader.GetString(2)),
            "abandoned" => new GatewayOutcome.Declined(DeclineCodes.ProcessingError,
                "The charge was interrupted before it reached the gateway; no money moved."),
            _ => new GatewayOutcome.Declined(reader.GetString(1), DeclineCodes.MessageFor(reader.GetString(1))),
        };
    }
}
