using Ledger.Domain.Payments;
using Shouldly;
using Xunit;
using static Ledger.Domain.Payments.PaymentCommand;
using static Ledger.Domain.Payments.PaymentEvent;

namespace Ledger.Domain.Tests;

public sealed class PaymentDeciderSpecs
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 22, 10, 0, 0, TimeSpan.Zero);
    private static readonly CardSnapshot Card = new("visa", "4242", 12, 2030, "fp_abc");
    private static readonly Dictionary<string, string> NoMetadata = [];

    private static readonly PaymentRequested Requested =
        new("pay_1", "acme", "order-1", 1250, "USD", Card, "2 coffees", NoMetadata, T0);
    private static readonly PaymentCharged Charged = new("pay_1", "acme", 1250, "USD", "gw_1", "ACME-00000001", T0.AddSeconds(1));
    private static readonly PaymentFailed Failed = new("pay_1", "acme", 1250, "USD", "card_declined", "The card was declined.", T0.AddSeconds(1));

    private static RefundPayment Refund(string id, long? amount) =>
        new(id, amount, "requested_by_customer", NoMetadata, T0.AddMinutes(5));

    private static PaymentRefunded Refunded(string id, long amount) =>
        new("pay_1", "acme", id, amount, "USD", "requested_by_customer", NoMetadata, T0.AddMinutes(5));

    [Fact]
    public void Requesting_a_new_payment_records_the_request() =>
        Spec.Given()
            .When(new RequestPayment("pay_1", "acme", "order-1", 1250, "USD", Card, "2 coffees", NoMetadata, T0))
            .Then(Requested);

    [Fact]
    public void Requesting_a_payment_again_changes_nothing() =>
        Spec.Given(Requested)
            .When(new RequestPayment("pay_1", "acme", "order-1", 1250, "USD", Card, "2 coffees", NoMetadata, T0))
            .Then();

    [Fact]
    public void A_pending_payment_records_the_gateways_charge() =>
        Spec.Given(Requested).When(new RecordCharge("gw_1", "ACME-00000001", T0.AddSeconds(1))).Then(Charged);

    [Fact]
    public void A_pending_payment_records_the_gateways_decline() =>
        Spec.Given(Requested).When(new RecordFailure("card_declined", "The card was declined.", T0.AddSeconds(1))).Then(Failed);

    [Fact]
    public void Recording_the_same_outcome_twice_is_a_safe_retry()
    {
        Spec.Given(Requested, Charged).When(new RecordCharge("gw_1", "ACME-00000001", T0.AddSeconds(2))).Then();
        Spec.Given(Requested, Failed).When(new RecordFailure("card_declined", "again", T0.AddSeconds(2))).Then();
    }

    [Fact]
    public void A_payment_cannot_take_the_opposite_outcome()
    {
        Spec.Given(Requested, Charged).When(new RecordFailure("card_declined", "no", T0)).ThenRejected("outcome_conflict");
        Spec.Given(Requested, Failed).When(new RecordCharge("gw_1", "ACME-00000001", T0)).ThenRejected("outcome_conflict");
    }

    [Fact]
    public void Nothing_can_happen_to_a_payment_that_was_never_requested() =>
        Spec.Given().When(new RecordCharge("gw_1", "ACME-00000001", T0)).ThenRejected("payment_not_found");

    [Fact]
    public void A_refund_without_an_amount_refunds_all_that_remains() =>
        Spec.Given(Requested, Charged, Refunded("re_1", 250)).When(Refund("re_2", null)).Then(Refunded("re_2", 1000));

    [Fact]
    public void Partial_refunds_may_add_up_to_the_charge() =>
        Spec.Given(Requested, Charged, Refunded("re_1", 1000)).When(Refund("re_2", 250)).Then(Refunded("re_2", 250));

    [Fact]
    public void A_partial_refund_refunds_exactly_its_amount() =>
        Spec.Given(Requested, Charged).When(Refund("re_1", 100)).Then(Refunded("re_1", 100));

    [Fact]
    public void A_refund_beyond_what_remains_is_rejected() =>
        Spec.Given(Requested, Charged, Refunded("re_1", 1000)).When(Refund("re_2", 251)).ThenRejected("refund_exceeds_remaining");

    [Fact]
    public void A_fully_refunded_payment_is_not_refundable() =>
        Spec.Given(Requested, Charged, Refunded("re_1", 1250)).When(Refund("re_2", 1)).ThenRejected("payment_not_refundable");

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void A_payment_that_never_succeeded_is_not_refundable(bool declined)
    {
        var history = declined ? new PaymentEvent[] { Requested, Failed } : [Requested];
        Spec.Given(history).When(Refund("re_1", 100)).ThenRejected("payment_not_refundable");
    }

    [Fact]
    public void Repeating_a_refund_by_its_id_is_a_safe_retry() =>
        Spec.Given(Requested, Charged, Refunded("re_1", 1250)).When(Refund("re_1", 1250)).Then();

    [Fact]
    public void Folding_tracks_status_and_what_remains_refundable()
    {
        var partly = Payment.Fold([Requested, Charged, Refunded("re_1", 250)])!;
        (partly.Status, partly.AmountRefunded, partly.AmountRefundable, partly.Version).ShouldBe((PaymentStatus.PartiallyRefunded, 250L, 1000L, 3L));

        var fully = Payment.Evolve(partly, Refunded("re_2", 1000))!;
        (fully.Status, fully.AmountRefundable, fully.Refunds.Count).ShouldBe((PaymentStatus.Refunded, 0L, 2));

        var failed = Payment.Fold([Requested, Failed])!;
        (failed.Status, failed.FailureCode, failed.AmountRefundable).ShouldBe((PaymentStatus.Failed, "card_declined", 0L));
    }

    [Fact]
    public void Every_event_moves_the_version_by_one()
    {
        Payment.Fold([Requested, Requested])!.Version.ShouldBe(2); // a repeated request (never decided, but a fact if stored) still counts
        Payment.Fold([Requested])!.Version.ShouldBe(1);
        Payment.Fold([Requested, Charged])!.Version.ShouldBe(2);
        Payment.Fold([Requested, Failed])!.Version.ShouldBe(2);
        Payment.Fold([Requested, Charged, Refunded("re_1", 250), Refunded("re_2", 250)])!.Version.ShouldBe(4);
    }

    [Theory]
    [InlineData(PaymentStatus.Pending, "pending")]
    [InlineData(PaymentStatus.Succeeded, "succeeded")]
    [InlineData(PaymentStatus.Failed, "failed")]
    [InlineData(PaymentStatus.PartiallyRefunded, "partially_refunded")]
    [InlineData(PaymentStatus.Refunded, "refunded")]
    public void Statuses_have_the_names_the_api_uses(PaymentStatus status, string name) => status.Name().ShouldBe(name);

    [Fact]
    public void Rejections_say_why_in_words_a_merchant_can_act_on()
    {
        Reason(Refund("re_1", 100), Requested, Failed).ShouldBe("A payment that is failed cannot be refunded.");
        Reason(Refund("re_2", 251), Requested, Charged, Refunded("re_1", 1000)).ShouldBe("The refund of 251 exceeds the 250 that remains refundable.");
        Reason(new RecordFailure("card_declined", "declined", T0), Requested, Charged)
            .ShouldBe("The payment is already succeeded and cannot take another outcome.");
        Reason(Refund("re_1", 1)).ShouldBe("No such payment.");
    }

    private static string Reason(PaymentCommand command, params PaymentEvent[] history) =>
        Should.Throw<PaymentRejected>(() => PaymentDecider.Decide(command, Payment.Fold(history))).Message;

    [Fact]
    public void Evolving_never_throws_on_an_event_without_a_request() =>
        Payment.Evolve(null, Charged).ShouldBeNull();
}
