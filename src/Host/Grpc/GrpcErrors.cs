using System.Text.Json;
using Google.Protobuf.WellKnownTypes;
using Google.Rpc;
using Grpc.Core;
using Grpc.Core.Interceptors;
using Ledger.Host.Http;

namespace Ledger.Host.Grpc;

/// <summary>
/// Ledger's problems as gRPC statuses with google.rpc details (proto/ledger/v1/payments.proto says which): the same
/// stable codes as the HTTP API's problem documents, in an ErrorInfo (domain <see cref="Domain"/>); field errors as a
/// BadRequest; a wait as a RetryInfo. Never UNKNOWN or INTERNAL for a mistake of the caller's.
/// </summary>
public static class GrpcErrors
{
    public const string Domain = "ledger.dev";

    /// <summary>The status a problem is, by its HTTP status and code.</summary>
    public static RpcException ToRpcException(ApiProblem problem) =>
        Build(problem.Status, problem.Code, problem.Title + " " + problem.Message, problem.Errors, problem.RetryAfterSeconds);

    /// <summary>A stored answer that is a problem document (a refusal remembered under its key), as the same status.</summary>
    public static RpcException FromStoredProblem(StoredResponse answer)
    {
        using var json = JsonDocument.Parse(answer.Body);
        var root = json.RootElement;
        var errors = root.TryGetProperty("errors", out var e) && e.ValueKind == JsonValueKind.Object
            ? e.EnumerateObject().ToDictionary(p => p.Name, p => p.Value.EnumerateArray().Select(m => m.GetString() ?? "").ToArray())
            : null;
        return Build(answer.Status, root.GetProperty("code").GetString()!, $"{root.GetProperty("title").GetString()} {root.GetProperty("detail").GetString()}",
            errors, retryAfterSeconds: null);
    }

    public static RpcException Build(int httpStatus, string code, string message, IDictionary<string, string[]>? errors, int? retryAfterSeconds)
    {
        // The HTTP problem's "see errors" points at its JSON member; here the fields are in the BadRequest detail.
        if (errors is { Count: > 0 }) message = message.Replace("see errors.", "the BadRequest detail names each.", StringComparison.Ordinal);
        var status = new Google.Rpc.Status { Code = (int)CodeOf(httpStatus, code), Message = message };
        if (errors is { Count: > 0 })
        {
            var bad = new BadRequest();
            foreach (var (field, messages) in errors)
                foreach (var m in messages)
                    bad.FieldViolations.Add(new BadRequest.Types.FieldViolation { Field = ProtoField(field), Description = m });
            status.Details.Add(Any.Pack(bad));
        }
        status.Details.Add(Any.Pack(new ErrorInfo { Reason = code, Domain = Domain }));
        if (retryAfterSeconds is { } seconds || httpStatus is 409 && code == "idempotency_key_in_use")
            status.Details.Add(Any.Pack(new RetryInfo { RetryDelay = Duration.FromTimeSpan(TimeSpan.FromSeconds(retryAfterSeconds ?? 1)) }));
        return status.ToRpcException();
    }

    private static StatusCode CodeOf(int httpStatus, string code) => (httpStatus, code) switch
    {
        (400, _) => StatusCode.InvalidArgument,
        (401, _) => StatusCode.Unauthenticated,
        (403, _) => StatusCode.PermissionDenied,
        (404, _) => StatusCode.NotFound,
        (409, "idempotency_key_in_use" or "concurrency_conflict") => StatusCode.Aborted,
        (409 or 422, _) => StatusCode.FailedPrecondition, // a refusal: the payment (or the key) cannot give that now
        (413 or 429, _) => StatusCode.ResourceExhausted,
        (501, _) => StatusCode.Unimplemented,
        (503, _) => StatusCode.Unavailable,
        _ => StatusCode.Internal,
    };

    public static bool IsGrpc(Microsoft.AspNetCore.Http.HttpRequest request) => request.ContentType?.StartsWith("application/grpc", StringComparison.Ordinal) == true;

    /// <summary>
    /// A problem found before a call reaches its service (the rate limiter), as a gRPC "trailers-only" answer: HTTP 200, the
    /// status in the headers, no message.
    /// </summary>
    public static Task WriteAsync(HttpContext http, ApiProblem problem)
    {
        var status = ToRpcException(problem);
        var response = http.Response;
        response.StatusCode = StatusCodes.Status200OK;
        response.ContentType = "application/grpc";
        response.Headers["grpc-status"] = ((int)status.StatusCode).ToString(System.Globalization.CultureInfo.InvariantCulture);
        response.Headers["grpc-message"] = Uri.EscapeDataString(status.Status.Detail);
        var details = status.Trailers.GetValueBytes("grpc-status-details-bin");
        if (details is not null) response.Headers["grpc-status-details-bin"] = Convert.ToBase64String(details).TrimEnd('=');
        return Task.CompletedTask;
    }

    /// <summary>"card.expMonth" as the proto names it: "card.exp_month".</summary>
    public static string ProtoField(string jsonPath) =>
        string.Join('.', jsonPath.Split('.').Select(part => string.Concat(part.Select((c, i) => char.IsAsciiLetterUpper(c) && i > 0 ? "_" + char.ToLowerInvariant(c) : c.ToString()))));

    /// <summary>Every call's exceptions through <see cref="Problems.ToProblem"/>, as HTTP's are: a problem becomes its status.</summary>
    public sealed class Interceptor(ILogger<Interceptor> logger) : global::Grpc.Core.Interceptors.Interceptor
    {
        public override async Task<TResponse> UnaryServerHandler<TRequest, TResponse>(
            TRequest request, ServerCallContext context, UnaryServerMethod<TRequest, TResponse> continuation)
        {
            try
            {
                return await continuation(request, context);
            }
            catch (Exception e) when (Translate(e) is { } status)
            {
                throw status;
            }
        }

        public override async Task ServerStreamingServerHandler<TRequest, TResponse>(
            TRequest request, IServerStreamWriter<TResponse> responseStream, ServerCallContext context, ServerStreamingServerMethod<TRequest, TResponse> continuation)
        {
            try
            {
                await continuation(request, responseStream, context);
            }
            catch (Exception e) when (Translate(e) is { } status)
            {
                throw status;
            }
        }

        private RpcException? Translate(Exception e)
        {
            if (e is RpcException) return null;
            if (Problems.ToProblem(e) is { } problem) return ToRpcException(problem);
            logger.LogError(e, "Unhandled error in a gRPC call");
            return Build(500, "internal_error", "Something went wrong on our side. The call may or may not have been applied; retry with the same idempotency-key to find out.",
                null, null);
        }
    }
}
