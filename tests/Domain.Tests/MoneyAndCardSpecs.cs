using Ledger.Domain.Cards;
using Ledger.Domain.Money;
using Shouldly;
using Xunit;

namespace Ledger.Domain.Tests;

public sealed class MoneyAndCardSpecs
{
    [Theory]
    [InlineData("USD", 2, 1250, "12.50")]
    [InlineData("JPY", 0, 1250, "1250")]
    [InlineData("KWD", 3, 1250, "1.250")]
    [InlineData("BHD", 3, 5, "0.005")]
    [InlineData("EUR", 2, -7, "-0.07")]
    public void Currencies_know_their_exponent_and_format_minor_units_exactly(string code, int exponent, long minor, string text)
    {
        var currency = Currency.Of(code);
        currency.Exponent.ShouldBe(exponent);
        currency.Format(minor).ShouldBe(text);
    }

    [Theory]
    [InlineData("USD", 123456, "$1,234.56")]
    [InlineData("USD", 5, "$0.05")]
    [InlineData("USD", 100000000000, "$1,000,000,000.00")]
    [InlineData("JPY", 5000, "¥5,000")]
    [InlineData("JPY", 999, "¥999")]
    [InlineData("KWD", 12345, "KWD 12.345")]
    [InlineData("KWD", 1234567, "KWD 1,234.567")]
    [InlineData("EUR", -7, "-€0.07")]
    [InlineData("CHF", 100000, "CHF 1,000.00")]
    public void Receipts_show_amounts_with_the_currencys_symbol_grouping_and_decimals(string code, long minor, string text) =>
        Currency.Of(code).Display(minor).ShouldBe(text);

    [Theory]
    [InlineData("USD", "12.50", 1250)]
    [InlineData("USD", "12.5", 1250)]
    [InlineData("USD", "12", 1200)]
    [InlineData("USD", "1,234.56", 123456)]
    [InlineData("USD", " 0.07 ", 7)]
    [InlineData("JPY", "5,000", 5000)]
    [InlineData("KWD", "1.234", 1234)]
    public void Amounts_typed_by_people_are_read_into_exact_minor_units(string code, string text, long minor)
    {
        Currency.Of(code).TryParseAmount(text, out var parsed).ShouldBeTrue();
        parsed.ShouldBe(minor);
    }

    [Theory]
    [InlineData("USD", "12.505")] // more decimals than the currency has
    [InlineData("JPY", "5.5")]
    [InlineData("USD", "-1")]
    [InlineData("USD", "1e3")]
    [InlineData("USD", "12.")]
    [InlineData("USD", ".5")]
    [InlineData("USD", "1,23")]   // a comma that does not separate thousands
    [InlineData("USD", "1,2345")]
    [InlineData("USD", "")]
    [InlineData("USD", "ten")]
    [InlineData("USD", "1234567890123456")] // beyond what minor units in a long hold for every currency
    public void Amounts_that_are_not_exact_in_the_currency_are_refused(string code, string text) =>
        Currency.Of(code).TryParseAmount(text, out _).ShouldBeFalse();

    [Theory]
    [InlineData("usd")]
    [InlineData("XXX")]
    [InlineData("")]
    [InlineData(null)]
    public void Unknown_or_lower_case_currency_codes_are_not_supported(string? code) =>
        Currency.TryFind(code, out _).ShouldBeFalse();

    [Fact]
    public void Amounts_run_from_one_minor_unit_to_ten_to_the_twelfth()
    {
        (Amount.IsValid(0), Amount.IsValid(1), Amount.IsValid(1_000_000_000_000), Amount.IsValid(1_000_000_000_001))
            .ShouldBe((false, true, true, false));
    }

    [Theory]
    [InlineData("4242424242424242", true)]
    [InlineData("4000000000000002", true)]
    [InlineData("4242424242424241", false)] // Luhn fails
    [InlineData("42424242424", false)]      // too short
    [InlineData("42424242424242424242", false)] // too long
    [InlineData("4242 4242 4242 4242", false)]
    [InlineData("", false)]
    [InlineData("400000000002", true)]          // 12 digits, the shortest
    [InlineData("4000000000000000006", true)]   // 19 digits, the longest
    [InlineData("40000000006", false)]          // 11 digits, though Luhn passes
    [InlineData("40000000000000000002", false)] // 20 digits, though Luhn passes
    [InlineData("42424242424242x2", false)]     // one character that is not a digit
    [InlineData("4000000000000003:", false)]    // ':' counts as 10 in the Luhn sum, which passes: it is still not a digit
    [InlineData("5555555555554444", true)]      // doubled digits over 9 (5 -> 10 -> 1)
    [InlineData("5555555555554445", false)]
    public void Card_numbers_are_12_to_19_digits_passing_Luhn(string number, bool valid) =>
        CardRules.IsValidNumber(number).ShouldBe(valid);

    [Theory]
    [InlineData("4242424242424242", "visa")]
    [InlineData("5555555555554444", "mastercard")]
    [InlineData("2223003122003222", "mastercard")]
    [InlineData("378282246310005", "amex")]
    [InlineData("6011111111111117", "discover")]
    [InlineData("3566002020360505", "jcb")]
    [InlineData("36227206271667", "diners")]
    [InlineData("6200000000000005", "unionpay")]
    [InlineData("9999999999999995", "unknown")]
    // The edges of each range, and one step outside.
    [InlineData("5100000000000000", "mastercard")]
    [InlineData("5500000000000000", "mastercard")]
    [InlineData("5000000000000000", "unknown")]
    [InlineData("5600000000000000", "unknown")]
    [InlineData("2221000000000000", "mastercard")]
    [InlineData("2720000000000000", "mastercard")]
    [InlineData("2220000000000000", "unknown")]
    [InlineData("2721000000000000", "unknown")]
    [InlineData("6440000000000000", "discover")]
    [InlineData("6490000000000000", "discover")]
    [InlineData("6430000000000000", "unknown")]
    [InlineData("6500000000000000", "discover")]  // 65 is discover on its own
    [InlineData("3528000000000000", "jcb")]
    [InlineData("3589000000000000", "jcb")]
    [InlineData("3527000000000000", "unknown")]
    [InlineData("3590000000000000", "unknown")]
    [InlineData("30000000000000", "diners")]
    [InlineData("30500000000000", "diners")]
    [InlineData("30600000000000", "unknown")]
    [InlineData("29900000000000", "unknown")]
    public void The_brand_comes_from_the_number(string number, string brand) =>
        CardRules.BrandOf(number).ShouldBe(brand);

    [Fact]
    public void A_card_is_good_through_the_end_of_its_expiry_month()
    {
        var now = new DateTimeOffset(2026, 11, 22, 0, 0, 0, TimeSpan.Zero);
        CardRules.IsExpired(11, 2026, now).ShouldBeFalse();
        CardRules.IsExpired(10, 2026, now).ShouldBeTrue();
        CardRules.IsExpired(1, 2027, now).ShouldBeFalse();
        CardRules.IsExpired(12, 2025, now).ShouldBeTrue();
    }

    [Theory]
    [InlineData("123", true)]
    [InlineData("1234", true)]
    [InlineData("12", false)]
    [InlineData("12a", false)]
    [InlineData("12345", false)]
    public void A_cvc_is_three_or_four_digits(string cvc, bool valid) => CardRules.IsValidCvc(cvc).ShouldBe(valid);

    [Theory]
    [InlineData(0, false)]
    [InlineData(1, true)]
    [InlineData(12, true)]
    [InlineData(13, false)]
    [InlineData(-1, false)]
    public void An_expiry_month_is_1_to_12(int month, bool valid) => CardRules.IsValidExpiryMonth(month).ShouldBe(valid);

    [Fact]
    public void An_unsupported_currency_is_refused_by_name()
    {
        var refused = Should.Throw<ArgumentException>(() => Currency.Of("XXX"));
        refused.Message.ShouldContain("Unsupported currency 'XXX'");
    }
}
