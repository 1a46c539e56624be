namespace Ledger.Domain.Money;

/// <summary>Limits on amounts, in minor units of the payment's currency.</summary>
public static class Amount
{
    public const long Min = 1;
    public const long Max = 1_000_000_000_000; // 10^12 minor units

    public static bool IsValid(long minorUnits) => minorUnits is >= Min and <= Max;
}
