using System.Text;
using Ledger.Domain.Cards;
using Ledger.Domain.Money;
using Ledger.Domain.Payments;
using Ledger.EventStore;
using Ledger.Host.Gateway;
using Ledger.Host.Http;
using Microsoft.AspNetCore.Mvc;
using Npgsql;
using Wolverine.Http;

namespace Ledger.Host.Payments;

public sealed record CreatePaymentRequest(
    long? Amount,
    string? Currency,
    string? OrderId,
    string? Description = null,
    Dictionary<string, string>? Metadata = null,
    CardInput? Card = null);

/// <summary>Card data as it arrives. Lives in memory for one request; ToString never shows the number or cvc.</summary>
public sealed record CardInput(string? Number, int? ExpMonth, int? ExpYear, string? Cvc)
{
    private bool PrintMembers(StringBuilder builder)
    {
        builder.Append($"ExpMonth = {ExpMonth}, ExpYear = {ExpYear}");
        return true;
    }
}

/// <summary>
/// POST /v1/payments. Two steps, each one transaction: (1) PaymentRequested with the idempotency claim,
/// committed before the gateway is asked; (2) the outcome with the key's final answer. A crash between the
/// two leaves a pending payment that a retry (once the lease runs out) or the sweep finishes.
/// </summary>
public static class RequestPayment
{
    public const string Endpoint = "POST /v1/payments";

    public static void Configure(HttpChain chain) =>
        chain.Metadata.RequireAuthorization(Policies.Merchant)
            .WithTags("Payments").WithName("CreatePayment").WithSummary("Charge a card")
            .WithDescription("A decline is not an HTTP error: it is a 201 with status `failed` and a `failureCode`.")
            .WithMetadata(new DocumentedBody(typeof(CreatePaymentRequest))).Produces<PaymentResource>(StatusCodes.Status201Created)
            .Problems(400, 403, 409, 413, 415, 422).WithMetadata(new RequiresIdempotencyKey(), new AnswersWithLocation());

    [WolverinePost("/v1/payments")]
    public static async Task<IResult> Handle(
        HttpContext http,
        [FromServices] EventLog<PaymentEvent> store,
        [FromServices] Idempotency idempotency,
        [FromServices] IPaymentGateway gateway,
        [FromServices] ChargeCompletion completion,
        [FromServices] Secrets secrets,
        [FromServices] Observability.LedgerMeter meter,
        [FromServices] TimeProvider clock)
    {
        var merchant = http.User.RequireMerchant();
        var key = Idempotency.ParseKey(http.Request);
        var read = await JsonBody.ReadAsync(http.Request, ApiJson.Default.CreatePaymentRequest, http.RequestAborted);
        var (answer, replayed) = await ChargeAsync(http, merchant, key, read, store, idempotency, gateway, completion, secrets, meter, clock);
        return new StoredResponseResult(answer, replayed);
    }

    /// <summary>
    /// The charge, whatever it came over (HTTP here, gRPC in Grpc/PaymentsService.cs): validated, then run under the key's
    /// idempotency record, which both share: the fingerprint is this endpoint's, over the body as the JSON API reads it.
    /// The answer is the HTTP one (status and JSON), as stored for replays; a validation failure or a key in use throws.
    /// </summary>
    public static async Task<(StoredResponse Answer, bool Replayed)> ChargeAsync(
        HttpContext http, string merchant, string key, ReadBody<CreatePaymentRequest> read,
        EventLog<PaymentEvent> store, Idempotency idempotency, IPaymentGateway gateway, ChargeCompletion completion, Secrets secrets,
        Observability.LedgerMeter meter, TimeProvider clock)
    {
        var (body, raw) = (read.Value, read.Raw);
        var now = clock.Now();
        Validate(read, now);

        var card = body.Card!;
        var paymentId = $"pay_{Guid.NewGuid():N}";
        var request = new PaymentCommand.RequestPayment(
            paymentId, merchant, body.OrderId!, body.Amount!.Value, body.Currency!,
            new CardSnapshot(CardRules.BrandOf(card.Number!), CardRules.Last4(card.Number!), card.ExpMonth!.Value, card.ExpYear!.Value,
                secrets.CardFingerprint(card.Number!)),
            body.Description, body.Metadata ?? [], now);
        var scope = new IdempotencyScope(merchant, Endpoint, key);
        var fingerprint = idempotency.Fingerprint("POST", "/v1/payments", raw);
        var metadata = new EventMetadata(CorrelationId.Of(http), $"request:{http.TraceIdentifier}", key, http.User.Actor());

        var requested = PaymentDecider.Decide(request, null);
        return await idempotency.RunAsync(scope, fingerprint,
            write: async ct =>
            {
                await store.AppendAsync(paymentId, 0, requested, metadata,
                    commands => commands.Add(idempotency.Claim(scope, fingerprint, paymentId, now)), ct);
                meter.PaymentCreated();
                var outcome = await gateway.ChargeAsync(new GatewayCharge(
                    paymentId, merchant, request.Amount, request.Currency, card.Number!, card.ExpMonth!.Value, card.ExpYear!.Value, card.Cvc!), ct);
                var known = requested.Aggregate((Payment?)null, Payment.Evolve)!;
                return await completion.RecordOutcomeAsync(paymentId, scope, outcome, metadata, ct, known);
            },
            resume: (takenOver, ct) => completion.ResumeAsync(takenOver, scope, metadata, ct));
    }

    private static void Validate(ReadBody<CreatePaymentRequest> body, DateTimeOffset now)
    {
        var r = body.Value;
        void Error(string field, string message) => body.Error(field, message);

        if (r.Amount is null) Error("amount", "Required.");
        else if (!Amount.IsValid(r.Amount.Value)) Error("amount", $"Must be between {Amount.Min} and {Amount.Max} minor units.");
        if (r.Currency is null) Error("currency", "Required.");
        else if (!Currency.TryFind(r.Currency, out _)) Error("currency", "Unsupported currency; see docs/currencies.md for the list.");
        if (string.IsNullOrEmpty(r.OrderId)) Error("orderId", "Required.");
        else if (r.OrderId.Length > 64) Error("orderId", "At most 64 characters.");
        else if (r.OrderId.Any(char.IsControl)) Error("orderId", "Must not contain control characters.");
        if (r.Description is { Length: > 1000 }) Error("description", "At most 1000 characters.");
        else if (r.Description is not null && Metadata.HasControlCharacters(r.Description, allowLineBreaks: true))
            Error("description", "Must not contain control characters other than tabs and line breaks.");
        Metadata.Validate(r.Metadata, Error);

        if (r.Card is not { } card)
        {
            Error("card", "Required.");
        }
        else
        {
            if (!CardRules.IsValidNumber(card.Number)) Error("card.number", "Must be 12-19 digits and pass the Luhn check.");
            if (card.ExpMonth is null) Error("card.expMonth", "Required.");
            else if (!CardRules.IsValidExpiryMonth(card.ExpMonth.Value)) Error("card.expMonth", "Must be 1-12.");
            if (card.ExpYear is null) Error("card.expYear", "Required.");
            else if (card.ExpYear is < 2000 or > 2100) Error("card.expYear", "Must be a four-digit year.");
            else if (card.ExpMonth is >= 1 and <= 12 && CardRules.IsExpired(card.ExpMonth.Value, card.ExpYear.Value, now))
                Error("card.expYear", "The card has expired.");
            if (!CardRules.IsValidCvc(card.Cvc)) Error("card.cvc", "Must be 3 or 4 digits.");
        }
        body.ThrowIfInvalid();
    }
}

public static class Metadata
{
    public static void Validate(Dictionary<string, string>? metadata, Action<string, string> error)
    {
        if (metadata is null) return;
        if (metadata.Count > 50) error("metadata", "At most 50 keys.");
        foreach (var (k, v) in metadata)
        {
            var field = $"metadata.{Printable(Truncate(k))}";
            if (k.Length is 0 or > 40) error(field, "Keys are 1-40 characters.");
            else if (HasControlCharacters(k, allowLineBreaks: false)) error(field, "Keys must not contain control characters.");
            if (v is null) error(field, "Values are strings.");
            else if (v.Length > 500) error(field, "Values are at most 500 characters.");
            else if (HasControlCharacters(v, allowLineBreaks: true)) error(field, "Values must not contain control characters other than tabs and line breaks.");
        }
    }

    /// <summary>
    /// C0 and C1 controls (U+0000 among them, which PostgreSQL cannot store in text or jsonb), tabs and line breaks
    /// excepted where a human might type them.
    /// </summary>
    public static bool HasControlCharacters(string text, bool allowLineBreaks) =>
        text.Any(c => char.IsControl(c) && !(allowLineBreaks && c is '\t' or '\n' or '\r'));

    private static string Printable(string key) => HasControlCharacters(key, allowLineBreaks: false)
        ? new string(key.Select(c => char.IsControl(c) ? '?' : c).ToArray())
        : key;

    private static string Truncate(string key) => key.Length > 40 ? key[..40] : key;
}
