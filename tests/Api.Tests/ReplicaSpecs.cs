using System.Net;
using Ledger.Testing;
using Npgsql;
using Shouldly;
using Xunit;

namespace Ledger.Api.Tests;

/// <summary>
/// Issue 15: GET endpoints read from a PostgreSQL streaming replica (a cluster of the spec's own made with
/// pg_basebackup -R), a writer sees its writes (Ledger-Position, Ledger-Read-After), a replica too far behind or down
/// is not read from. The real host process, the real replica; replay is paused on the replica to make it lag.
/// </summary>
public sealed class ReplicaSpecs : IAsyncLifetime
{
    private readonly PostgresCluster _primary = new();
    private PostgresCluster _replica = null!;
    private HostProcess _host = null!;
    private string _replicaDatabase = "";

    public async ValueTask InitializeAsync()
    {
        await _primary.StartAsync();
        var database = await _primary.CreateDatabaseAsync();
        _replica = PostgresCluster.StandbyOf(_primary);
        await _replica.StartAsync();
        _replicaDatabase = _replica.ConnectionStringFor(database);
        _host = new HostProcess(database, HostProcess.FastRecovery(
            ("ConnectionStrings:LedgerReplica", _replicaDatabase), ("Ledger:Replica:MaxStaleness", "00:00:02"), ("Ledger:Replica:CheckEvery", "00:00:00.100")));
        await _host.StartAsync();
    }

    [Fact]
    public async Task Reads_come_from_the_replica_and_a_writer_sees_its_write_even_while_the_replica_lags()
    {
        using var acme = _host.Client(LedgerApp.Acme);
        var first = await acme.Charge();
        first.StatusCode.ShouldBe(HttpStatusCode.Created);
        var acknowledgedAt = DateTime.UtcNow;
        await Waiting.Until(async () => From(await acme.GetAsync("/v1/payments?limit=1")) == "replica", TimeSpan.FromSeconds(20), "reads to go to the replica");
        // A replica answer holds every write acknowledged more than Ledger-Staleness ms before it.
        var checkedAnswers = 0;
        for (var i = 0; i < 20; i++)
        {
            var list = await acme.GetAsync("/v1/payments?limit=1");
            var staleness = int.Parse(list.Headers.GetValues("Ledger-Staleness").Single());
            staleness.ShouldBeInRange(0, 2000);
            if (DateTime.UtcNow.AddMilliseconds(-staleness) > acknowledgedAt && ++checkedAnswers > 0)
                (await list.Json()).GetProperty("data").GetArrayLength().ShouldBe(1, $"staleness {staleness} ms, charged {(DateTime.UtcNow - acknowledgedAt).TotalMilliseconds:F0} ms ago");
            await Task.Delay(50);
        }
        checkedAnswers.ShouldBeGreaterThan(0, "no replica answer came late enough to have to hold the charge");

        await Replica("select pg_wal_replay_pause()");
        string id;
        try
        {
            var charged = await acme.Charge();
            id = (await charged.Json()).Str("id");
            var position = charged.Headers.GetValues("Ledger-Position").Single();

            // The writer, with its position: the replica has not replayed it, so the primary answers, with the payment.
            var mine = await Get(acme, $"/v1/payments/{id}", position);
            mine.StatusCode.ShouldBe(HttpStatusCode.OK);
            From(mine).ShouldBe("primary");
            (await mine.Json()).Str("status").ShouldBe("succeeded");

            // Without one, the replica answers while it is within 2 s: it does not have the payment yet.
            var stale = await acme.GetAsync($"/v1/payments/{id}");
            if (From(stale) == "replica") stale.StatusCode.ShouldBe(HttpStatusCode.NotFound);
            // Past 2 s behind, nobody reads from it.
            await Waiting.Until(async () => From(await acme.GetAsync($"/v1/payments/{id}")) == "primary", TimeSpan.FromSeconds(20), "the lagging replica to be left");
            (await acme.GetAsync($"/v1/payments/{id}")).StatusCode.ShouldBe(HttpStatusCode.OK);
        }
        finally
        {
            await Replica("select pg_wal_replay_resume()");
        }
        // Caught up, the replica answers again, and has the payment charged while it was paused.
        await Waiting.Until(async () => await acme.GetAsync($"/v1/payments/{id}") is { StatusCode: HttpStatusCode.OK } answer && From(answer) == "replica",
            TimeSpan.FromSeconds(20), "the replica to be read again, with the payment");
    }

    [Fact]
    public async Task A_position_the_replica_has_replayed_is_read_from_the_replica()
    {
        using var acme = _host.Client(LedgerApp.Acme);
        var charged = await acme.Charge();
        var id = (await charged.Json()).Str("id");
        var position = charged.Headers.GetValues("Ledger-Position").Single();
        await Waiting.Until(async () => From(await Get(acme, $"/v1/payments/{id}", position)) == "replica", TimeSpan.FromSeconds(20), "the replica to replay the charge");
        var read = await Get(acme, $"/v1/payments/{id}/receipt", position);
        read.StatusCode.ShouldBe(HttpStatusCode.OK);
        (await read.Json()).Str("paymentId").ShouldBe(id);
    }

    [Fact]
    public async Task A_malformed_Ledger_Read_After_is_a_400_problem()
    {
        using var acme = _host.Client(LedgerApp.Acme);
        var answer = await Get(acme, "/v1/payments", "yesterday");
        await IdempotencySpecs.ShouldBeProblem(answer, HttpStatusCode.BadRequest, "invalid_read_after");
    }

    [Fact]
    public async Task With_the_replica_down_every_read_is_answered_by_the_primary()
    {
        using var acme = _host.Client(LedgerApp.Acme);
        var id = (await (await acme.Charge()).Json()).Str("id");
        await Waiting.Until(async () => From(await acme.GetAsync($"/v1/payments/{id}")) == "replica", TimeSpan.FromSeconds(20), "reads to go to the replica");

        await _replica.StopAsync();
        for (var i = 0; i < 20; i++)
        {
            var read = await acme.GetAsync($"/v1/payments/{id}");
            read.StatusCode.ShouldBe(HttpStatusCode.OK, _host.ErrorOutput);
            From(read).ShouldBe("primary");
        }
        await _replica.StartAsync();
        await Waiting.Until(async () => From(await acme.GetAsync($"/v1/payments/{id}")) == "replica", TimeSpan.FromSeconds(20), "the replica to be read again after its restart");
    }

    private static string? From(HttpResponseMessage answer) =>
        answer.Headers.TryGetValues("Ledger-Read-From", out var values) ? values.Single() : null;

    private static Task<HttpResponseMessage> Get(HttpClient client, string path, string readAfter)
    {
        var request = new HttpRequestMessage(HttpMethod.Get, path);
        request.Headers.TryAddWithoutValidation("Ledger-Read-After", readAfter);
        return client.SendAsync(request);
    }

    private async Task Replica(string sql)
    {
        await using var connection = new NpgsqlConnection(_replicaDatabase);
        await connection.OpenAsync();
        await using var cmd = new NpgsqlCommand(sql, connection);
        await cmd.ExecuteNonQueryAsync();
    }

    public async ValueTask DisposeAsync()
    {
        if (_host is not null) await _host.DisposeAsync();
        if (_replica is not null) await _replica.DisposeAsync();
        await _primary.DisposeAsync();
    }
}
