using Npgsql;

namespace Ledger.EventStore;

/// <summary>
/// Retries what PostgreSQL or the network says is worth retrying (serialization failures, deadlocks, dropped
/// connections, a server restarting), with exponential backoff and jitter, a few times and briefly: a longer outage
/// surfaces to the caller (the HTTP edge answers 503) instead of piling up waiting requests.
/// </summary>
public static class TransientRetry
{
    private const int Attempts = 4;
    private static readonly TimeSpan BaseDelay = TimeSpan.FromMilliseconds(25);

    public static bool IsTransient(Exception e) => e switch
    {
        PostgresException { SqlState: PostgresErrorCodes.SerializationFailure or PostgresErrorCodes.DeadlockDetected } => true,
        PostgresException => e is NpgsqlException { IsTransient: true },
        NpgsqlException { IsTransient: true } => true,
        _ => false,
    };

    public static async Task<T> RunAsync<T>(Func<Task<T>> work, CancellationToken ct)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return await work();
            }
            catch (Exception e) when (attempt < Attempts && IsTransient(e) && !ct.IsCancellationRequested)
            {
                var delay = BaseDelay * Math.Pow(2, attempt - 1) * (0.5 + Random.Shared.NextDouble());
                await Task.Delay(delay, ct);
            }
        }
    }
}
