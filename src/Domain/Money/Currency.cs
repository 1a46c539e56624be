namespace Ledger.Domain.Money;

/// <summary>An ISO 4217 currency Ledger accepts, with the number of minor-unit digits it has.</summary>
public sealed record Currency(string Code, int Exponent)
{
    // The supported list is documented in docs/currencies.md; keep the two in step.
    private static readonly Dictionary<string, Currency> Supported = new Currency[]
    {
        new("USD", 2), new("EUR", 2), new("GBP", 2), new("CAD", 2), new("AUD", 2), new("NZD", 2),
        new("CHF", 2), new("SEK", 2), new("NOK", 2), new("DKK", 2), new("PLN", 2), new("CZK", 2),
        new("HUF", 2), new("SGD", 2), new("HKD", 2), new("MXN", 2), new("BRL", 2), new("INR", 2),
        new("ZAR", 2), new("ILS", 2), new("AED", 2), new("CNY", 2),
        new("JPY", 0), new("KRW", 0), new("VND", 0), new("CLP", 0), new("ISK", 0), new("UGX", 0),
        new("KWD", 3), new("BHD", 3), new("JOD", 3), new("OMR", 3), new("TND", 3),
    }.ToDictionary(c => c.Code, StringComparer.Ordinal);

    public static IReadOnlyCollection<Currency> All => Supported.Values;

    /// <summary>Exact, case-sensitive lookup: ISO codes are upper case on the wire.</summary>
    public static bool TryFind(string? code, out Currency currency)
    {
        if (code is not null && Supported.TryGetValue(code, out var found))
        {
            currency = found;
            return true;
        }
        currency = null!;
        return false;
    }

    public static Currency Of(string code) =>
        TryFind(code, out var c) ? c : throw new ArgumentException($"Unsupported currency '{code}'.", nameof(code));

    /// <summary>Formats minor units for people ("12.50", "1250", "1.250") without floating point.</summary>
    public string Format(long minorUnits)
    {
        if (Exponent == 0) return minorUnits.ToString(System.Globalization.CultureInfo.InvariantCulture);
        var sign = minorUnits < 0 ? "-" : "";
        var abs = Math.Abs(minorUnits);
        var divisor = Pow10(Exponent);
        var major = abs / divisor;
        var minor = abs % divisor;
        return $"{sign}{major}.{minor.ToString(new string('0', Exponent), System.Globalization.CultureInfo.InvariantCulture)}";
    }

    /// <summary>
    /// Reads an amount as people type it ("12.50", "12.5", "1,234", "12") into minor units, exactly: at most this
    /// currency's number of decimals, no sign, no exponent, commas only as thousands separators. False otherwise.
    /// </summary>
    public bool TryParseAmount(string? text, out long minorUnits)
    {
        minorUnits = 0;
        if (string.IsNullOrWhiteSpace(text)) return false;
        var plain = text.Trim();
        var point = plain.IndexOf('.');
        var whole = point < 0 ? plain : plain[..point];
        var fraction = point < 0 ? "" : plain[(point + 1)..];
        if (whole.Contains(',', StringComparison.Ordinal))
        {
            var groups = whole.Split(',');
            if (groups[0].Length is 0 or > 3 || groups.Skip(1).Any(g => g.Length != 3)) return false;
            whole = string.Concat(groups);
        }
        if (whole.Length is 0 or > 15 || fraction.Length > Exponent || (point >= 0 && fraction.Length == 0)) return false;
        if (!whole.All(char.IsAsciiDigit) || !fraction.All(char.IsAsciiDigit)) return false;
        minorUnits = long.Parse(whole, System.Globalization.CultureInfo.InvariantCulture) * Pow10(Exponent)
                     + (fraction.Length == 0 ? 0 : long.Parse(fraction.PadRight(Exponent, '0'), System.Globalization.CultureInfo.InvariantCulture));
        return true;
    }

    // Symbols a customer reads without doubt. Others show the ISO code ("KWD 12.345"): "$" alone would be ambiguous
    // between dollars, "kr" between crowns.
    private static readonly Dictionary<string, string> Symbols = new(StringComparer.Ordinal)
    {
        ["USD"] = "$", ["EUR"] = "€", ["GBP"] = "£", ["JPY"] = "¥", ["INR"] = "₹", ["KRW"] = "₩", ["ILS"] = "₪", ["VND"] = "₫",
    };

    /// <summary>
    /// Minor units as a customer reads them on a receipt: symbol or code, thousands grouped, the currency's own
    /// number of decimals ("$1,234.56", "¥5,000", "KWD 12.345", "-€0.07"). Integer arithmetic only.
    /// </summary>
    public string Display(long minorUnits)
    {
        var plain = Format(minorUnits);
        var negative = plain.StartsWith('-');
        var digits = negative ? plain[1..] : plain;
        var point = digits.IndexOf('.');
        var whole = point < 0 ? digits : digits[..point];
        var grouped = new System.Text.StringBuilder();
        for (var i = 0; i < whole.Length; i++)
        {
            if (i > 0 && (whole.Length - i) % 3 == 0) grouped.Append(',');
            grouped.Append(whole[i]);
        }
        var number = point < 0 ? grouped.ToString() : grouped + digits[point..];
        var amount = Symbols.TryGetValue(Code, out var symbol) ? symbol + number : $"{Code} {number}";
        return negative ? "-" + amount : amount;
    }

    private static long Pow10(int n)
    {
        long r = 1;
        for (var i = 0; i < n; i++) r *= 10;
        return r;
    }
}
