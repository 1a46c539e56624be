using Ledger.Domain.Payments;
using Ledger.EventStore;
using Ledger.EventStore.Audit;
using Ledger.Host.Http;
using Wolverine.Http;

namespace Ledger.Host.Auditing;

/// <summary>
/// GET /v1/payments/{id}/proof?eventCount=N: what a holder of a checkpoint needs to check, offline, that this payment's
/// events are in the log under it: each event as stored, its leaf's index and its audit path (docs/events.md).
/// </summary>
public static class GetPaymentProof
{
    public static void Configure(HttpChain chain) =>
        chain.Metadata.RequireAuthorization(Policies.Reader)
            .WithTags("Auditing").WithName("GetPaymentProof").WithSummary("Inclusion proofs of a payment's events under a signed checkpoint")
            .WithDescription("Against the latest checkpoint, or the one of eventCount events. Events after it are listed in notYetCovered. 404 checkpoint_not_found if none covers the payment yet.")
            .Produces<PaymentProof>().Problems(400, 404)
            .WithMetadata(new QueryParameter("eventCount", "The checkpoint to prove against (its eventCount); default the latest.", Microsoft.OpenApi.JsonSchemaType.Integer));

    [WolverineGet("/v1/payments/{id}/proof")]
    public static async Task<IResult> Handle(string id, HttpContext http, EventLog<PaymentEvent> store, LogDigest digest)
    {
        var query = new Query(http.Request);
        var eventCount = query.Long("eventCount", min: 1);
        query.ThrowIfInvalid();
        var events = await GetStreamEvents.ReadVisibleAsync(store, id, http, toVersion: null, toTime: null);
        var checkpoint = await digest.CheckpointAsync(eventCount, http.RequestAborted)
            ?? throw GetLatestCheckpoint.CheckpointNotFound(eventCount is null ? "No checkpoint has been signed yet." : $"No checkpoint of {eventCount} events.");
        var positions = await digest.PositionsAsync([.. events.Select(e => e.Sequence)], http.RequestAborted);
        var covered = events.Where(e => positions.TryGetValue(e.Sequence, out var p) && p < checkpoint.EventCount).ToList();
        if (covered.Count == 0) throw GetLatestCheckpoint.CheckpointNotFound("No checkpoint covers this payment yet; try again after the next one.");
        var proofs = await digest.ProofsAsync([.. covered.Select(e => positions[e.Sequence])], checkpoint.EventCount, http.RequestAborted);
        var body = new PaymentProof(id, CheckpointResource.From(checkpoint),
            [.. covered.Select(e => new ProvenEvent(EventResource.From(e), positions[e.Sequence],
                [.. proofs[positions[e.Sequence]].Select(Convert.ToHexStringLower)]))],
            [.. events.Except(covered).Select(e => e.Version)]);
        return Results.Text(System.Text.Json.JsonSerializer.Serialize(body, ApiJson.Default.PaymentProof), "application/json");
    }
}
