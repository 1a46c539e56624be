using Ledger.EventStore.Audit;
using Ledger.Host.Http;
using Wolverine.Http;

namespace Ledger.Host.Auditing;

/// <summary>GET /v1/audit/checkpoints?after=&amp;limit=: the signed checkpoints of the log, oldest first (auditors).</summary>
public static class ListCheckpoints
{
    public static void Configure(HttpChain chain) =>
        chain.Metadata.RequireAuthorization(Policies.Auditor)
            .WithTags("Auditing").WithName("ListCheckpoints").WithSummary("The log's signed checkpoints, by size (auditors)")
            .WithDescription("The database's copy of the checkpoint file; check against your own copy (docs/events.md).")
            .Produces<CheckpointPage>().Problems(400, 403)
            .WithMetadata(
                new QueryParameter("after", "eventCount to continue after (nextAfter of the previous page); default 0.", Microsoft.OpenApi.JsonSchemaType.Integer),
                new QueryParameter("limit", "1-1000, default 100.", Microsoft.OpenApi.JsonSchemaType.Integer));

    [WolverineGet("/v1/audit/checkpoints")]
    public static async Task<IResult> Handle(HttpContext http, LogDigest digest)
    {
        var query = new Query(http.Request);
        var after = query.Long("after", min: 0) ?? 0;
        var limit = query.Int("limit", 100, 1, 1000);
        query.ThrowIfInvalid();
        var (checkpoints, hasMore) = await digest.CheckpointsAsync(after, limit, http.RequestAborted);
        var body = new CheckpointPage([.. checkpoints.Select(CheckpointResource.From)], checkpoints.Count > 0 ? checkpoints[^1].EventCount : after, hasMore);
        return Results.Text(System.Text.Json.JsonSerializer.Serialize(body, ApiJson.Default.CheckpointPage), "application/json");
    }
}

/// <summary>GET /v1/audit/checkpoints/latest: the newest signed checkpoint (auditors).</summary>
public static class GetLatestCheckpoint
{
    public static void Configure(HttpChain chain) =>
        chain.Metadata.RequireAuthorization(Policies.Auditor)
            .WithTags("Auditing").WithName("GetLatestCheckpoint").WithSummary("The newest signed checkpoint (auditors)")
            .WithDescription("404 checkpoint_not_found until the first one is signed.")
            .Produces<CheckpointResource>().Problems(403, 404);

    [WolverineGet("/v1/audit/checkpoints/latest")]
    public static async Task<IResult> Handle(HttpContext http, LogDigest digest)
    {
        var latest = await digest.CheckpointAsync(null, http.RequestAborted) ?? throw CheckpointNotFound("No checkpoint has been signed yet.");
        return Results.Text(System.Text.Json.JsonSerializer.Serialize(CheckpointResource.From(latest), ApiJson.Default.CheckpointResource), "application/json");
    }

    public static ApiProblem CheckpointNotFound(string detail) => new(404, "checkpoint_not_found", "Checkpoint not found.", detail);
}

/// <summary>GET /v1/audit/public-key: the key checkpoints are signed with, for checking them and the proofs.</summary>
public static class GetCheckpointPublicKey
{
    public static void Configure(HttpChain chain) =>
        chain.Metadata.RequireAuthorization(Policies.Reader)
            .WithTags("Auditing").WithName("GetCheckpointPublicKey").WithSummary("The checkpoint signing key's public key (PEM) and key id")
            .WithDescription("Take it from a source you trust as well (the operator, `ledger audit public-key`): a server that could forge the log could serve another key.")
            .Produces<PublicKeyResource>().Problems(404);

    [WolverineGet("/v1/audit/public-key")]
    public static IResult Handle(Microsoft.Extensions.Options.IOptions<AuditOptions> options)
    {
        if (options.Value.SigningKeyFile is not { } file) throw GetLatestCheckpoint.CheckpointNotFound("This ledger signs no checkpoints (Ledger:Audit:SigningKeyFile is not set).");
        using var key = CheckpointKey.Load(file);
        return Results.Text(System.Text.Json.JsonSerializer.Serialize(new PublicKeyResource(key.KeyId, key.PublicKeyPem), ApiJson.Default.PublicKeyResource), "application/json");
    }
}
