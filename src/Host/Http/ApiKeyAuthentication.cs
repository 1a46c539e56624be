using System.Security.Claims;
using System.Security.Cryptography;
using System.Text;
using System.Text.Encodings.Web;
using Microsoft.AspNetCore.Authentication;
using Microsoft.Extensions.Options;

namespace Ledger.Host.Http;

public sealed class ApiKeyOptions
{
    public List<ApiKey> ApiKeys { get; set; } = [];
}

public sealed class ApiKey
{
    public string Key { get; set; } = "";
    public string Role { get; set; } = "";       // merchant | auditor
    public string? MerchantId { get; set; }

    /// <summary>A merchant key must name its merchant, or it would see everyone's data; an auditor key must not.</summary>
    public bool IsUsable => Key.Length >= 8 && Role switch
    {
        Roles.Merchant => !string.IsNullOrWhiteSpace(MerchantId),
        Roles.Auditor => MerchantId is null,
        _ => false,
    };

    /// <summary>Never the whole key: enough to tell keys apart in a log.</summary>
    public string Redacted => Key.Length > 8 ? $"{Key[..8]}…" : "…";
}

public static class Roles
{
    public const string Merchant = "merchant";
    public const string Auditor = "auditor";
}

public static class Caller
{
    public static string? MerchantId(this ClaimsPrincipal user) => user.FindFirstValue("merchant_id");
    public static bool IsAuditor(this ClaimsPrincipal user) => user.IsInRole(Roles.Auditor);
    public static string Actor(this ClaimsPrincipal user) => user.IsAuditor() ? "auditor" : $"merchant:{user.MerchantId()}";

    /// <summary>The merchant a merchant-only endpoint acts for.</summary>
    public static string RequireMerchant(this ClaimsPrincipal user) =>
        user.MerchantId() ?? throw new ApiProblem(403, "forbidden", "Forbidden.", "This endpoint is for merchant keys.");
}

/// <summary>
/// The configured API keys, and which one a presented key is. Every configured key is compared, in constant time over
/// fixed-length digests, so neither timing nor early exit tells how close a guess was. Used by the API's bearer scheme
/// and by the console's sign-in.
/// </summary>
public sealed class ApiKeyRing(IOptionsMonitor<ApiKeyOptions> keys, ILogger<ApiKeyRing> logger)
{
    public enum Outcome { Unknown, Misconfigured, Valid }

    /// <summary>The caller a key stands for (role, merchant, key_id), or why there is none.</summary>
    public (Outcome Outcome, ApiKey? Key, ClaimsPrincipal? Principal) Match(string presentedKey, string scheme)
    {
        var presented = SHA256.HashData(Encoding.UTF8.GetBytes(presentedKey));
        ApiKey? match = null;
        foreach (var (digest, key) in Digests(CurrentKeys()))
            if (CryptographicOperations.FixedTimeEquals(presented, digest))
                match = key;
        if (match is null) return (Outcome.Unknown, null, null);
        if (!match.IsUsable) return (Outcome.Misconfigured, match, null);

        var claims = new List<Claim>
        {
            new(ClaimTypes.Role, match.Role),
            new("key", match.Redacted),
            new("key_id", Convert.ToHexStringLower(presented.AsSpan(0, 8))), // names the key for rate limits, reveals nothing
        };
        if (match.Role == Roles.Merchant && match.MerchantId is { } merchant) claims.Add(new Claim("merchant_id", merchant));
        return (Outcome.Valid, match, new ClaimsPrincipal(new ClaimsIdentity(claims, scheme)));
    }

    /// <summary>The usable keys as configured now (the console checks its sessions' keys against them).</summary>
    public IEnumerable<ApiKey> Usable => CurrentKeys().ApiKeys.Where(k => k.IsUsable);

    private (ApiKeyOptions Options, (byte[] Digest, ApiKey Key)[] Digests) _digests;

    /// <summary>
    /// The keys as configured now; if an edit made while running is invalid, the last valid set, so one bad
    /// line in a settings file does not lock every caller out (it is logged, and refused at the next start).
    /// </summary>
    private ApiKeyOptions CurrentKeys()
    {
        try
        {
            return keys.CurrentValue;
        }
        catch (OptionsValidationException e) when (_digests.Options is { } lastGood)
        {
            logger.LogError("Ignoring the edited API keys until they are valid: {Problem}", e.Message);
            return lastGood;
        }
    }

    /// <summary>The configured keys' digests, computed once per configuration rather than per request.</summary>
    private (byte[] Digest, ApiKey Key)[] Digests(ApiKeyOptions options)
    {
        var cached = _digests;
        if (ReferenceEquals(cached.Options, options)) return cached.Digests;
        var digests = options.ApiKeys.Select(k => (SHA256.HashData(Encoding.UTF8.GetBytes(k.Key)), k)).ToArray();
        _digests = (options, digests);
        return digests;
    }
}

/// <summary>"Authorization: Bearer &lt;key&gt;" against the configured keys (<see cref="ApiKeyRing"/>).</summary>
public sealed class ApiKeyAuthenticationHandler(
    IOptionsMonitor<AuthenticationSchemeOptions> options,
    ILoggerFactory logger,
    UrlEncoder encoder,
    ApiKeyRing keys)
    : AuthenticationHandler<AuthenticationSchemeOptions>(options, logger, encoder)
{
    public const string SchemeName = "Bearer";

    protected override Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        var header = Request.Headers.Authorization.ToString();
        if (!header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase)) return Task.FromResult(AuthenticateResult.NoResult());
        // Only what HTTP allows around a field value (SP, HTAB) is stripped: a key followed by VT, FF or U+00A0 is another key.
        var (outcome, key, principal) = keys.Match(header[7..].Trim(' ', '\t'), SchemeName);
        return Task.FromResult(outcome switch
        {
            ApiKeyRing.Outcome.Valid => AuthenticateResult.Success(new AuthenticationTicket(principal!, SchemeName)),
            ApiKeyRing.Outcome.Misconfigured => AuthenticateResult.Fail($"API key {key!.Redacted} is misconfigured."),
            _ => AuthenticateResult.Fail("Unknown API key."),
        });
    }

    protected override Task HandleChallengeAsync(AuthenticationProperties properties)
    {
        Response.Headers.WWWAuthenticate = "Bearer";
        return Problems.WriteAsync(Context, new ApiProblem(401, "unauthorized", "Unauthorized.",
            "Send a valid API key as 'Authorization: Bearer <key>'."));
    }

    protected override Task HandleForbiddenAsync(AuthenticationProperties properties) =>
        Problems.WriteAsync(Context, new ApiProblem(403, "forbidden", "Forbidden.", "This key may not do that."));
}

public static class Policies
{
    public const string Merchant = "merchant";
    public const string Reader = "reader";
    public const string Auditor = "auditor";

    public static IServiceCollection AddApiKeys(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<ApiKeyOptions>().Bind(configuration.GetSection("Ledger"))
            .Validate(o => o.ApiKeys.All(k => k.IsUsable),
                "Every Ledger:ApiKeys entry needs a Key of 8+ characters and a Role: 'merchant' with a MerchantId, or 'auditor' without one.")
            .ValidateOnStart();
        services.AddSingleton<ApiKeyRing>();
        services.AddAuthentication(ApiKeyAuthenticationHandler.SchemeName)
            .AddScheme<AuthenticationSchemeOptions, ApiKeyAuthenticationHandler>(ApiKeyAuthenticationHandler.SchemeName, null);
        services.AddAuthorizationBuilder()
            .AddPolicy(Merchant, p => p.RequireRole(Roles.Merchant).RequireClaim("merchant_id"))
            .AddPolicy(Reader, p => p.RequireAssertion(c => c.User.IsInRole(Roles.Auditor) || (c.User.IsInRole(Roles.Merchant) && c.User.MerchantId() is not null)))
            .AddPolicy(Auditor, p => p.RequireRole(Roles.Auditor));
        return services;
    }
}
