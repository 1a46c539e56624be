using Ledger.Domain.Payments;
using Ledger.EventStore;
using Ledger.Projections.Payments;

namespace Ledger.Projections;

/// <summary>The read model's schema and its inline projections, in the order they run.</summary>
public static class ReadModel
{
    public static IReadOnlyList<Migration> Migrations { get; } = Migration.EmbeddedIn(typeof(ReadModel).Assembly, "read_model");

    public static IReadOnlyList<PaymentProjection> InlineProjections() =>
        [new PaymentViewProjection(), new ReceiptProjection(), new MetricsProjection(), new LedgerProjection()];
}
