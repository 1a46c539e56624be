using System.Diagnostics;
using Ledger.Domain.Payments;
using Ledger.EventStore;
using Ledger.Projections;
using Ledger.Projections.Payments;
using Npgsql;
using static Ledger.Domain.Payments.PaymentEvent;

// Usage: Ledger.Seed <events> [merchants] with ConnectionStrings__Ledger set, on a migrated database.
// Each payment is requested, charged and partly refunded (3 events), spread over 50 merchants (m0..m49, or as many
// as given: bench/console.sh gives one merchant a million payments), 3 currencies, 7 s apart from 2026-10-01, so every projection
// has real work to do on rebuild.
if (args.Length is < 1 or > 2 || !long.TryParse(args[0], out var target) || target < 3
    || (args.Length == 2 && (!int.TryParse(args[1], out var given) || given < 1)))
{
    Console.Error.WriteLine("usage: Ledger.Seed <number of events, at least 3> [number of merchants, default 50]");
    return 2;
}
var merchants = args.Length == 2 ? int.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture) : 50;
var connectionString = Environment.GetEnvironmentVariable("ConnectionStrings__Ledger")
    ?? throw new InvalidOperationException("Set ConnectionStrings__Ledger.");
await using var db = NpgsqlDataSource.Create(connectionString);
// COPY into Marten's tables: the chain trigger hashes each event as it lands.
var store = await MartenEventLog.OpenAsync(db, PaymentEventCodec.Instance, ReadModel.InlineProjections());

var currencies = new[] { "USD", "EUR", "JPY" };
var start = new DateTimeOffset(2026, 10, 1, 0, 0, 0, TimeSpan.Zero);
var card = new CardSnapshot("visa", "4242", 12, 2030, "fp_seed");
var payments = (target + 2) / 3;

IEnumerable<(string, IReadOnlyList<PaymentEvent>)> Payments()
{
    for (long i = 0; i < payments; i++)
    {
        var id = $"pay_seed_{i:D9}";
        var merchant = $"m{i % merchants}";
        var currency = currencies[i % 3];
        var at = start.AddSeconds(i * 7);
        var amount = 500 + i % 9_500;
        yield return (id, [
            new PaymentRequested(id, merchant, $"order-{i}", amount, currency, card, null, new Dictionary<string, string>(), at),
            new PaymentCharged(id, merchant, amount, currency, $"ch_{i}", $"SEED-{merchant.ToUpperInvariant()}-{i:D8}", at.AddMilliseconds(150)),
            new PaymentRefunded(id, merchant, $"re_{i}", amount / 4, currency, "requested_by_customer", new Dictionary<string, string>(), at.AddHours(1)),
        ]);
    }
}

var clock = Stopwatch.StartNew();
var written = await store.ImportAsync(Payments(), new EventMetadata(Actor: "system:seed"));
Console.WriteLine($"seeded {written} events ({payments} payments) in {clock.Elapsed.TotalSeconds:F1} s");
return 0;
