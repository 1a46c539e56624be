namespace Ledger.Host.Http;

/// <summary>
/// Client text shown back in an error or written to a log: control characters (a forged line break) as '?', and
/// digit runs that could be a card number masked. The one rule for both.
/// </summary>
public static partial class Redaction
{
    public static string Shown(string text)
    {
        var shown = new string([.. text.Select(c => char.IsControl(c) ? '?' : c)]);
        return LongDigitRun().Replace(shown, m => new string('*', m.Length));
    }

    [System.Text.RegularExpressions.GeneratedRegex("[0-9]{12,}")]
    private static partial System.Text.RegularExpressions.Regex LongDigitRun();
}
