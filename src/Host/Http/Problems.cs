using Ledger.Domain.Payments;
using Ledger.EventStore;
using Npgsql;

namespace Ledger.Host.Http;

/// <summary>An answer of ours that is not a success: becomes RFC 9457 problem+json with a stable code.</summary>
public sealed class ApiProblem(int status, string code, string title, string detail, IDictionary<string, string[]>? errors = null)
    : Exception(detail)
{
    public int Status { get; } = status;
    public string Code { get; } = code;
    public string Title { get; } = title;
    public IDictionary<string, string[]>? Errors { get; } = errors;
    public int? RetryAfterSeconds { get; init; }

    public static ApiProblem Validation(IDictionary<string, string[]> errors) =>
        new(400, "validation_failed", "The request is not valid.", "One or more fields are invalid; see errors.", errors);

    public static ApiProblem Validation(string field, string message) =>
        Validation(new Dictionary<string, string[]> { [field] = [message] });

    public static ApiProblem PaymentNotFound() =>
        new(404, "payment_not_found", "Payment not found.", "No payment with that id exists for this account.");
}

public static class Problems
{
    public const string ContentType = "application/problem+json";

    public static async Task WriteAsync(HttpContext context, ApiProblem problem)
    {
        var response = context.Response;
        response.StatusCode = problem.Status;
        response.ContentType = ContentType;
        if (problem.RetryAfterSeconds is { } seconds) response.Headers.RetryAfter = seconds.ToString(System.Globalization.CultureInfo.InvariantCulture);
        await response.WriteAsync(Serialize(problem, CorrelationId.Of(context)), context.RequestAborted);
    }

    public static string Serialize(ApiProblem problem, string? correlationId) =>
        System.Text.Json.JsonSerializer.Serialize(new ProblemBody(
            Type: $"https://docs.ledger.dev/errors/{problem.Code}",
            Title: problem.Title,
            Status: problem.Status,
            Detail: problem.Message,
            Code: problem.Code,
            Errors: problem.Errors,
            CorrelationId: correlationId), ApiJson.Default.ProblemBody);

    /// <summary>
    /// The one place our own exception types become HTTP answers. Framework exceptions are not mapped
    /// broadly: anything unexpected is a bug and a 500 with nothing leaked.
    /// </summary>
    public static IApplicationBuilder UseProblemAnswers(this IApplicationBuilder app) => app.Use(async (context, next) =>
    {
        try
        {
            await next(context);
        }
        catch (Exception e) when (!context.Response.HasStarted && ToProblem(e) is { } problem)
        {
            await WriteAsync(context, problem);
        }
        catch (Exception e) when (!context.Response.HasStarted && e is not OperationCanceledException)
        {
            context.RequestServices.GetRequiredService<ILogger<ApiProblem>>().LogError(e, "Unhandled error");
            await WriteAsync(context, new ApiProblem(500, "internal_error", "Something went wrong on our side.",
                "The request may or may not have been applied; retry with the same Idempotency-Key to find out."));
        }
    });

    public static ApiProblem? ToProblem(Exception e) => e switch
    {
        ApiProblem p => p,
        PaymentRejected { Code: PaymentRejected.PaymentNotFound } => ApiProblem.PaymentNotFound(),
        PaymentRejected { Code: PaymentRejected.RefundExceedsRemaining } r => new ApiProblem(422, r.Code, "Refund exceeds what remains.", r.Message),
        PaymentRejected r => new ApiProblem(409, r.Code, "The payment cannot do that now.", r.Message),
        ConcurrencyException c => new ApiProblem(409, "concurrency_conflict", "Someone else changed this first.",
            $"The payment changed while this request ran ({c.Message}). Retry the request.") { RetryAfterSeconds = 1 },
        BadHttpRequestException { StatusCode: 413 } => new ApiProblem(413, "payload_too_large", "The request body is too large.",
            $"Request bodies are limited to {JsonBody.MaxBytes / 1024} KiB."),
        BadHttpRequestException b => new ApiProblem(400, "validation_failed", "The request is not valid.", b.Message),
        // A server shutting down (57P01 admin_shutdown when PostgreSQL is stopped, 57P02, 57P03) or a broken
        // connection (class 08) is not a mistake of the request: with Marten's explicit transactions the stop can
        // land between the batch and its COMMIT, and the client's retry with its key finds out what happened.
        // With several database hosts (a failover pair, Target Session Attributes=read-write): no host is the primary
        // for the moment (Npgsql's "No suitable host was found", or every host failed), or the primary was demoted
        // under an open connection (25006, read-only transaction).
        NpgsqlException { IsTransient: true } or TimeoutException or NpgsqlException { InnerException: AggregateException }
            or NpgsqlException { Message: "No suitable host was found." } or PostgresException { SqlState: "25006" }
            or PostgresException { SqlState: "57P01" or "57P02" or "57P03" } or PostgresException { SqlState: ['0', '8', ..] } => new ApiProblem(503, "service_unavailable",
            "The ledger's database is unavailable.", "Retry later with the same Idempotency-Key.") { RetryAfterSeconds = 1 },
        // Marten wraps what Npgsql says (a dropped connection on a read, say): judge by the cause.
        Marten.Exceptions.MartenException { InnerException: { } inner } => ToProblem(inner),
        _ => null,
    };
}

public sealed record ProblemBody(
    string Type,
    string Title,
    int Status,
    string Detail,
    string Code,
    IDictionary<string, string[]>? Errors,
    string? CorrelationId);
