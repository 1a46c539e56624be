namespace Ledger.Domain.Cards;

/// <summary>Rules for card data as it arrives. The number and cvc only pass through: they are never kept.</summary>
public static class CardRules
{
    public static bool IsValidNumber(string? number) =>
        number is { Length: >= 12 and <= 19 } && number.All(char.IsAsciiDigit) && PassesLuhn(number);

    public static bool PassesLuhn(string digits)
    {
        var sum = 0;
        var doubleIt = false;
        for (var i = digits.Length - 1; i >= 0; i--)
        {
            var d = digits[i] - '0';
            if (doubleIt)
            {
                d *= 2;
                if (d > 9) d -= 9;
            }
            sum += d;
            doubleIt = !doubleIt;
        }
        return sum % 10 == 0;
    }

    public static bool IsValidCvc(string? cvc) => cvc is { Length: 3 or 4 } && cvc.All(char.IsAsciiDigit);

    public static bool IsValidExpiryMonth(int month) => month is >= 1 and <= 12;

    /// <summary>A card is good through the last day of its expiry month.</summary>
    public static bool IsExpired(int expMonth, int expYear, DateTimeOffset now)
    {
        var utc = now.UtcDateTime;
        return expYear < utc.Year || (expYear == utc.Year && expMonth < utc.Month);
    }

    public static string BrandOf(string number)
    {
        static int Prefix(string n, int digits) => int.Parse(n.AsSpan(0, digits), provider: System.Globalization.CultureInfo.InvariantCulture);

        if (number.StartsWith('4')) return "visa";
        var p2 = Prefix(number, 2);
        var p4 = Prefix(number, 4);
        if (p2 is >= 51 and <= 55 || p4 is >= 2221 and <= 2720) return "mastercard";
        if (p2 is 34 or 37) return "amex";
        if (p4 == 6011 || p2 == 65 || Prefix(number, 3) is >= 644 and <= 649) return "discover";
        if (p4 is >= 3528 and <= 3589) return "jcb";
        if (p2 is 36 or 38 || Prefix(number, 3) is >= 300 and <= 305) return "diners";
        if (p2 == 62) return "unionpay";
        return "unknown";
    }

    public static string Last4(string number) => number[^4..];
}
