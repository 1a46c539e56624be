using System.Text.Json;
using Ledger.Domain.Payments;
using Shouldly;

namespace Ledger.Domain.Tests;

/// <summary>Given(events).When(command).Then(events) or .ThenRejected(code), against the pure decider.</summary>
public sealed class Spec
{
    private readonly PaymentEvent[] _given;
    private PaymentCommand? _when;

    private Spec(PaymentEvent[] given) => _given = given;

    public static Spec Given(params PaymentEvent[] events) => new(events);

    public Spec When(PaymentCommand command)
    {
        _when = command;
        return this;
    }

    public void Then(params PaymentEvent[] expected)
    {
        var actual = PaymentDecider.Decide(_when!, Payment.Fold(_given));
        // Records holding dictionaries compare by reference; compare what would be stored instead.
        Json(actual).ShouldBe(Json(expected));
    }

    public void ThenRejected(string code)
    {
        var rejected = Should.Throw<PaymentRejected>(() => PaymentDecider.Decide(_when!, Payment.Fold(_given)));
        rejected.Code.ShouldBe(code);
    }

    private static string Json(PaymentEvent[] events) =>
        JsonSerializer.Serialize(events.Select(e => new { Type = e.GetType().Name, Event = (object)e }));
}
