using Ledger.Host.Http;
using Ledger.Host.Notifications;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.Options;
using Npgsql;
using Wolverine.Http;

namespace Ledger.Host.Webhooks;

public sealed record CreateWebhookEndpointRequest(string? Url, List<string>? Events, string? Description = null);

/// <summary>
/// POST /v1/webhook-endpoints: a merchant registers a URL for some of its payment events. The answer carries the signing
/// secret, this once; Ledger keeps it only sealed. The URL must pass <see cref="WebhookUrlPolicy"/>. The endpoint receives
/// the events that happen after it was created.
/// </summary>
public static class CreateWebhookEndpoint
{
    public static void Configure(HttpChain chain) =>
        chain.Metadata.RequireAuthorization(Policies.Merchant)
            .WithTags("Webhooks").WithName("CreateWebhookEndpoint").WithSummary("Register a webhook endpoint")
            .WithDescription("The answer's `secret` is shown once: keep it, and check each delivery's Ledger-Signature with it. Outside development the URL must be https and must not point to a private, loopback or link-local address.")
            .WithMetadata(new DocumentedBody(typeof(CreateWebhookEndpointRequest))).Produces<WebhookEndpointCreated>(StatusCodes.Status201Created)
            .Problems(400, 403, 409, 413, 415).WithMetadata(new AnswersWithLocation());

    [WolverinePost("/v1/webhook-endpoints")]
    public static async Task<IResult> Handle(
        HttpContext http, [FromServices] NpgsqlDataSource db, [FromServices] WebhookUrlPolicy policy, [FromServices] WebhookSecrets secrets,
        [FromServices] IOptions<WebhookOptions> options, [FromServices] TimeProvider clock,
        [FromServices] NotificationAudience audience)
    {
        var merchant = http.User.RequireMerchant();
        var read = await JsonBody.ReadAsync(http.Request, ApiJson.Default.CreateWebhookEndpointRequest, http.RequestAborted);
        var body = read.Value;
        if (policy.Refusal(body.Url) is { } refusal) read.Error("url", refusal);
        if (body.Events is not { Count: > 0 } events) read.Error("events", $"Give one or more of: {string.Join(", ", PaymentNotification.Types)}.");
        else if (events.FirstOrDefault(e => !PaymentNotification.Types.Contains(e)) is { } unknown)
            read.Error("events", $"Unknown event type '{(unknown.Length > 40 ? unknown[..40] : unknown)}'; one of: {string.Join(", ", PaymentNotification.Types)}.");
        else if (events.Distinct().Count() != events.Count) read.Error("events", "Name each event type once.");
        if (body.Description is { Length: > 200 }) read.Error("description", "At most 200 characters.");
        else if (body.Description is not null && body.Description.Any(char.IsControl)) read.Error("description", "Must not contain control characters.");
        read.ThrowIfInvalid();

        var id = $"we_{Guid.NewGuid():N}";
        var secret = WebhookSecrets.NewSecret();
        var (keyId, sealedSecret) = secrets.Seal(secret, id);
        var now = clock.Now().UtcDateTime;
        // The limit is checked in the insert, after a lock on the merchant's endpoints taken by the statement before it in
        // the same transaction (so the insert's snapshot sees every creation that held the lock first): racing creations
        // cannot pass it together.
        await using var batch = db.CreateBatch();
        var lockMerchant = new NpgsqlBatchCommand("select pg_advisory_xact_lock(hashtext('webhook_endpoints:' || $1))");
        lockMerchant.Parameters.Add(new NpgsqlParameter<string> { TypedValue = merchant });
        var cmd = new NpgsqlBatchCommand("""
            insert into webhook_endpoints (id, merchant_id, url, event_types, description, secret_key_id, secret_sealed, created_at)
            select $1, $2, $3, $4, $5, $6, $7, $8
            where (select count(*) from webhook_endpoints where merchant_id = $2 and deleted_at is null) < $9
            """);
        cmd.Parameters.Add(new NpgsqlParameter<string> { TypedValue = id });
        cmd.Parameters.Add(new NpgsqlParameter<string> { TypedValue = merchant });
        cmd.Parameters.Add(new NpgsqlParameter<string> { TypedValue = body.Url! });
        cmd.Parameters.Add(new NpgsqlParameter<string[]> { TypedValue = [.. body.Events!] });
        cmd.Parameters.Add(new NpgsqlParameter { Value = (object?)body.Description ?? DBNull.Value, NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Text });
        cmd.Parameters.Add(new NpgsqlParameter<string> { TypedValue = keyId });
        cmd.Parameters.Add(new NpgsqlParameter<byte[]> { TypedValue = sealedSecret });
        cmd.Parameters.Add(new NpgsqlParameter<DateTime> { TypedValue = now, NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.TimestampTz });
        cmd.Parameters.Add(new NpgsqlParameter<int> { TypedValue = options.Value.MaxEndpointsPerMerchant });
        batch.BatchCommands.Add(lockMerchant);
        batch.BatchCommands.Add(cmd);
        await batch.ExecuteNonQueryAsync(http.RequestAborted);
        if (cmd.RecordsAffected == 0)
            throw new ApiProblem(409, "webhook_endpoint_limit", "Too many webhook endpoints.",
                $"A merchant has at most {options.Value.MaxEndpointsPerMerchant} webhook endpoints; delete one first.");

        audience.Add(merchant);
        var created = new WebhookEndpointCreated(id, merchant, body.Url!, body.Events!, body.Description, now, secret);
        http.Response.Headers.Location = $"/v1/webhook-endpoints/{id}";
        return Results.Text(System.Text.Json.JsonSerializer.Serialize(created, ApiJson.Default.WebhookEndpointCreated), "application/json",
            statusCode: StatusCodes.Status201Created);
    }
}
