using Grpc.Core;
using Ledger.EventStore;
using Ledger.Grpc.V1;
using Ledger.Host.Auditing;
using Ledger.Host.Http;
using Microsoft.Extensions.Options;
using PaymentEvent = Ledger.Domain.Payments.PaymentEvent;

namespace Ledger.Host.Grpc;

public sealed class GrpcOptions
{
    /// <summary>How long WatchLog waits before looking again once it has sent everything commit-safe.</summary>
    public TimeSpan WatchPollInterval { get; set; } = TimeSpan.FromMilliseconds(100);

    /// <summary>How many events WatchLog reads at a time.</summary>
    public int WatchPage { get; set; } = 1000;
}

/// <summary>
/// ledger.v1.Audit (proto/ledger/v1/audit.proto): the HTTP API's audit reads on the same code
/// (<see cref="GetStreamEvents.ReadVisibleAsync(EventLog{PaymentEvent}, string, System.Security.Claims.ClaimsPrincipal, long?, DateTimeOffset?, CancellationToken)"/>,
/// <see cref="GetPaymentHistory.FoldAsync"/>, <see cref="EventLog{TEvent}.ReadFromAsync"/>), and WatchLog, the global log
/// as a live stream in commit-safe order.
/// </summary>
public sealed class AuditService(EventLog<PaymentEvent> store, IOptions<GrpcOptions> options) : Ledger.Grpc.V1.Audit.AuditBase
{
    public override async Task<StreamEvents> GetStreamEvents(GetStreamEventsRequest request, ServerCallContext context)
    {
        var user = PaymentsService.Caller(context.GetHttpContext());
        var events = await Auditing.GetStreamEvents.ReadVisibleAsync(store, request.PaymentId, user, null, null, context.CancellationToken);
        var answer = new StreamEvents { StreamId = request.PaymentId, Version = events[^1].Version };
        answer.Events.AddRange(events.Select(ToEvent));
        return answer;
    }

    public override async Task<Ledger.Grpc.V1.Payment> GetHistory(GetHistoryRequest request, ServerCallContext context)
    {
        var user = PaymentsService.Caller(context.GetHttpContext());
        if (request.PointCase == GetHistoryRequest.PointOneofCase.AtVersion && request.AtVersion < 1)
            throw ApiProblem.Validation("at_version", "From 1.");
        var state = await GetPaymentHistory.FoldAsync(store, request.PaymentId, user,
            request.PointCase == GetHistoryRequest.PointOneofCase.AtVersion ? request.AtVersion : null,
            request.PointCase == GetHistoryRequest.PointOneofCase.At ? request.At.ToDateTimeOffset() : null, context.CancellationToken);
        return GrpcMapping.ToPayment(Payments.PaymentResource.From(state));
    }

    /// <summary>
    /// Pages of the log after the caller's position, commit-safe (cut at the oldest transaction in flight), each event as it
    /// is read; when caught up, a look every <see cref="GrpcOptions.WatchPollInterval"/>. The position advances only past
    /// events sent, so a reconnect from the last sequence received repeats nothing and misses nothing.
    /// </summary>
    public override async Task WatchLog(WatchLogRequest request, IServerStreamWriter<Event> responseStream, ServerCallContext context)
    {
        var user = PaymentsService.Caller(context.GetHttpContext());
        if (!user.IsAuditor()) throw new ApiProblem(403, "forbidden", "Forbidden.", "The log is for the auditor key.");
        if (request.After < 0) throw ApiProblem.Validation("after", "0 or a sequence from this log.");
        var ct = context.CancellationToken;
        var o = options.Value;
        var position = await store.PositionOfAsync(request.After, ct);
        try
        {
            while (!ct.IsCancellationRequested)
            {
                var (events, hasMore) = await store.ReadFromAsync(position, o.WatchPage, commitSafe: true, ct);
                foreach (var e in events)
                {
                    await responseStream.WriteAsync(ToEvent(e), ct);
                    position = LogPosition.Of(e);
                }
                if (!hasMore) await Task.Delay(o.WatchPollInterval, ct);
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            // The caller went away (or the host is stopping): the stream ends; the caller resumes from its last sequence.
        }
    }

    public static Event ToEvent(StoredEvent<PaymentEvent> e) => new()
    {
        Sequence = e.Sequence, StreamId = e.StreamId, Version = e.Version, Type = e.Type, OccurredAt = HashChain.Time(e.OccurredAt),
        DataJson = e.DataJson, MetadataJson = e.MetadataJson, Hash = Convert.ToHexStringLower(e.Hash),
        PreviousHash = e.PreviousHash is null ? "" : Convert.ToHexStringLower(e.PreviousHash),
    };
}
