using System.Globalization;
using System.Text.RegularExpressions;
using Npgsql;

namespace Ledger.Host.Http;

public sealed class ReplicaOptions
{
    /// <summary>A replica further behind than this is not read from: its reads go to the primary.</summary>
    public TimeSpan MaxStaleness { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>How often the primary's and the replica's WAL positions are compared.</summary>
    public TimeSpan CheckEvery { get; set; } = TimeSpan.FromMilliseconds(250);
}

/// <summary>
/// Reads of the read model from a PostgreSQL streaming replica (<c>ConnectionStrings:LedgerReplica</c>), when one is
/// configured, up and close enough behind; otherwise from the primary. Docs: api.md "Reads from a replica".
/// <para>
/// How stale: every <see cref="ReplicaOptions.CheckEvery"/> the primary's WAL position is sampled with its time and the
/// replica's replay position read. A write acknowledged before a sample whose position the replica has replayed is on
/// the replica, so the replica holds every write acknowledged up to (now - that sample's time): that bound is the read's
/// <c>Ledger-Staleness</c>, and a replica whose bound exceeds <see cref="ReplicaOptions.MaxStaleness"/> (or that does
/// not answer, or is not in recovery) is not read from.
/// </para>
/// <para>
/// Positions are WAL insert positions (<c>pg_current_wal_insert_lsn</c>), which include commits not yet flushed (with
/// <c>synchronous_commit=off</c> a commit is acknowledged before its WAL is written).
/// Read-your-writes: every answer to a write carries <c>Ledger-Position</c>, the primary's WAL position read after the
/// write committed; a read sent with <c>Ledger-Read-After: &lt;position&gt;</c> is served by the replica only once the
/// replica has replayed that far (known from the last check, so it costs no round trip), else by the primary.
/// </para>
/// </summary>
public sealed partial class ReadReplica : IAsyncDisposable
{
    public const string PositionHeader = "Ledger-Position", ReadAfterHeader = "Ledger-Read-After";
    private readonly NpgsqlDataSource _primary;
    private readonly ReplicaOptions _options;
    private readonly ILogger<ReadReplica> _logger;
    private volatile State _state = State.Down;

    private sealed record State(bool Usable, ulong Replayed, TimeSpan Staleness)
    {
        public static readonly State Down = new(false, 0, TimeSpan.MaxValue);
    }

    public ReadReplica(IConfiguration configuration, NpgsqlDataSource primary, Microsoft.Extensions.Options.IOptions<ReplicaOptions> options,
        ILogger<ReadReplica> logger)
    {
        (_primary, _options, _logger) = (primary, options.Value, logger);
        if (configuration.GetConnectionString("LedgerReplica") is { Length: > 0 } replica)
            Source = NpgsqlDataSource.Create(new NpgsqlConnectionStringBuilder(replica)
            {
                ApplicationName = "ledger-replica-reads", NoResetOnClose = true, MaxAutoPrepare = 32, AutoPrepareMinUsages = 2,
                Timeout = 3, CommandTimeout = 10,
            }.ConnectionString);
    }

    /// <summary>The replica's pool; null when none is configured.</summary>
    public NpgsqlDataSource? Source { get; }

    public bool Configured => Source is not null;

    /// <summary>
    /// Runs a read on the replica when it may serve this request, else on the primary; a replica that fails under it
    /// (unreachable, gone away) is marked down and the read is run again on the primary. Sets Ledger-Read-From and, for
    /// the replica, Ledger-Staleness (milliseconds).
    /// </summary>
    public async Task<IResult> ReadAsync(HttpContext http, Func<NpgsqlDataSource, Task<IResult>> read)
    {
        var state = _state;
        var readAfter = ReadAfter(http.Request);
        if (Source is null || !state.Usable || state.Replayed < readAfter) return await FromPrimary(http, read);
        try
        {
            http.Response.Headers["Ledger-Read-From"] = "replica";
            http.Response.Headers["Ledger-Staleness"] = ((long)Math.Ceiling(state.Staleness.TotalMilliseconds)).ToString(CultureInfo.InvariantCulture);
            return await read(Source);
        }
        catch (NpgsqlException e) when (e is not PostgresException && !http.RequestAborted.IsCancellationRequested)
        {
            _state = State.Down;
            _logger.LogWarning("The replica failed a read ({Reason}): reads go to the primary until it answers again", e.Message);
            http.Response.Headers.Remove("Ledger-Staleness");
            return await FromPrimary(http, read);
        }
    }

    private Task<IResult> FromPrimary(HttpContext http, Func<NpgsqlDataSource, Task<IResult>> read)
    {
        if (Source is not null) http.Response.Headers["Ledger-Read-From"] = "primary";
        return read(_primary);
    }

    /// <summary>The position a read must see, from Ledger-Read-After; 0 without one. A malformed one is a 400.</summary>
    private static ulong ReadAfter(HttpRequest request)
    {
        if (!request.Headers.TryGetValue(ReadAfterHeader, out var values)) return 0;
        return values.Count == 1 && TryParsePosition(values[0], out var position) ? position
            : throw new ApiProblem(400, "invalid_read_after", "Invalid Ledger-Read-After header.",
                $"{ReadAfterHeader} takes the {PositionHeader} of an earlier answer, e.g. 0/16B3748.");
    }

    /// <summary>A PostgreSQL LSN as text (<c>16/B374D848</c>) as one number.</summary>
    public static bool TryParsePosition(string? text, out ulong position)
    {
        position = 0;
        if (text is null || !Lsn().IsMatch(text)) return false;
        var slash = text.IndexOf('/');
        position = (ulong.Parse(text[..slash], NumberStyles.HexNumber, CultureInfo.InvariantCulture) << 32)
                   | ulong.Parse(text[(slash + 1)..], NumberStyles.HexNumber, CultureInfo.InvariantCulture);
        return true;
    }

    [GeneratedRegex("^[0-9A-Fa-f]{1,8}/[0-9A-Fa-f]{1,8}$")]
    private static partial Regex Lsn();

    /// <summary>Sets Ledger-Position on the answer to every write on /v1 (when a replica is configured): read after commit.</summary>
    public void StampWrites(IApplicationBuilder app) => app.Use(async (http, next) =>
    {
        if (Source is not null && !HttpMethods.IsGet(http.Request.Method) && !HttpMethods.IsHead(http.Request.Method)
            && http.Request.Path.StartsWithSegments("/v1"))
            http.Response.OnStarting(async () =>
            {
                try
                {
                    await using var cmd = _primary.CreateCommand("select pg_current_wal_insert_lsn()::text");
                    http.Response.Headers[PositionHeader] = (string)(await cmd.ExecuteScalarAsync(http.RequestAborted))!;
                }
                catch (Exception e) when (e is NpgsqlException or OperationCanceledException)
                {
                    // The database is away (the answer is a 503 anyway) or the client left: no position to give.
                }
            });
        await next(http);
    });

    public ValueTask DisposeAsync() => Source?.DisposeAsync() ?? ValueTask.CompletedTask;

    /// <summary>Compares the primary's and the replica's WAL positions every CheckEvery, on every host with a replica.</summary>
    public sealed class Watch(ReadReplica replica, ILogger<Watch> logger) : BackgroundService
    {
        private readonly Queue<(long At, ulong Position)> _samples = new();

        protected override async Task ExecuteAsync(CancellationToken stoppingToken)
        {
            if (replica.Source is null) return;
            using var timer = new PeriodicTimer(replica._options.CheckEvery);
            var wasUsable = false;
            do
            {
                var state = await CheckAsync(stoppingToken);
                replica._state = state;
                if (state.Usable != wasUsable)
                    logger.LogInformation(state.Usable ? "Reads go to the replica (staleness at most {Staleness} ms)" : "Reads go to the primary: the replica is down, not a standby, or more than {Staleness} ms behind",
                        state.Usable ? (long)state.Staleness.TotalMilliseconds : (long)replica._options.MaxStaleness.TotalMilliseconds);
                wasUsable = state.Usable;
            }
            while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false));
        }

        private async Task<State> CheckAsync(CancellationToken ct)
        {
            try
            {
                var now = Environment.TickCount64;
                await using (var primary = replica._primary.CreateCommand("select pg_current_wal_insert_lsn()::text"))
                    if (TryParsePosition((string?)await primary.ExecuteScalarAsync(ct), out var position)) _samples.Enqueue((now, position));
                while (_samples.Count > 0 && now - _samples.Peek().At > replica._options.MaxStaleness.TotalMilliseconds * 2) _samples.Dequeue();
                await using var cmd = replica.Source!.CreateCommand("select pg_is_in_recovery(), coalesce(pg_last_wal_replay_lsn()::text, '')");
                await using var reader = await cmd.ExecuteReaderAsync(ct);
                if (!await reader.ReadAsync(ct) || !reader.GetBoolean(0) || !TryParsePosition(reader.GetString(1), out var replayed)) return State.Down;
                // The newest sample the replica has replayed: everything acknowledged before it is there.
                var covered = _samples.Where(s => s.Position <= replayed).Select(s => (long?)s.At).LastOrDefault();
                if (covered is null) return State.Down;
                var staleness = TimeSpan.FromMilliseconds(Environment.TickCount64 - covered.Value);
                return new State(staleness <= replica._options.MaxStaleness, replayed, staleness);
            }
            catch (Exception e) when (!ct.IsCancellationRequested && e is NpgsqlException or TimeoutException or InvalidOperationException)
            {
                return State.Down;
            }
        }
    }
}
