using System.Text;

namespace Ledger.Host.Gateway;

/// <summary>The card network as we see it. Charges are deduplicated by <see cref="GatewayCharge.GatewayKey"/>.</summary>
public interface IPaymentGateway
{
    Task<GatewayOutcome> ChargeAsync(GatewayCharge charge, CancellationToken ct);

    /// <summary>
    /// After a crash: what became of the charge with this key? A key the gateway never saw is fenced off
    /// (a late request with it is refused) and reported as not charged.
    /// </summary>
    Task<GatewayOutcome> LookupAsync(string gatewayKey, CancellationToken ct);
}

/// <summary>One charge request. Holds the card number and cvc in memory only; ToString never shows them.</summary>
public sealed record GatewayCharge(
    string GatewayKey, string MerchantId, long Amount, string Currency, string CardNumber, int ExpMonth, int ExpYear, string Cvc)
{
    private bool PrintMembers(StringBuilder builder)
    {
        builder.Append($"GatewayKey = {GatewayKey}, MerchantId = {MerchantId}, Amount = {Amount}, Currency = {Currency}, Card = ****{CardNumber[^4..]}");
        return true;
    }
}

public abstract record GatewayOutcome
{
    private GatewayOutcome() { }
    public sealed record Approved(string Reference) : GatewayOutcome;
    /// <summary>The card was refused. <paramref name="Transient"/>: worth asking again.</summary>
    public sealed record Declined(string Code, string Message, bool Transient = false) : GatewayOutcome;
}

public static class DeclineCodes
{
    public const string CardDeclined = "card_declined";
    public const string InsufficientFunds = "insufficient_funds";
    public const string ExpiredCard = "expired_card";
    public const string IncorrectCvc = "incorrect_cvc";
    public const string ProcessingError = "processing_error";

    public static string MessageFor(string code) => code switch
    {
        CardDeclined => "The card was declined.",
        InsufficientFunds => "The card has insufficient funds.",
        ExpiredCard => "The card has expired.",
        IncorrectCvc => "The card's security code is incorrect.",
        ProcessingError => "An error occurred while processing the card.",
        _ => "The card was declined.",
    };
}
