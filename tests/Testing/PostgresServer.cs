using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Npgsql;
using Xunit;

namespace Ledger.Testing;

/// <summary>
/// The PostgreSQL server tests run against: the one named by LEDGER_TEST_PG (a connection string whose
/// user may create databases), or else a throwaway cluster started once per test process and removed at exit.
/// </summary>
public static class PostgresServer
{
    private static readonly Lazy<Task<string>> Server = new(async () =>
    {
        var configured = Environment.GetEnvironmentVariable("LEDGER_TEST_PG");
        if (!string.IsNullOrWhiteSpace(configured)) return configured;
        var cluster = new PostgresCluster();
        await cluster.StartAsync();
        AppDomain.CurrentDomain.ProcessExit += (_, _) => cluster.DisposeAsync().AsTask().GetAwaiter().GetResult();
        return cluster.ConnectionString;
    });

    /// <summary>A connection string to the server's maintenance database.</summary>
    public static Task<string> ConnectionStringAsync() => Server.Value;
}

/// <summary>
/// A throwaway PostgreSQL cluster of its own (fsync off), as the postgres user when we are root. Tests that stop
/// the database on purpose use one, so no other test's database goes down with it.
/// </summary>
/// <param name="synchronousCommit">Wait for the WAL at each commit, so stopping the server (immediate mode, like a crash
/// of PostgreSQL) loses nothing that was acknowledged. Off for speed where the server is never stopped under load.</param>
public sealed class PostgresCluster(bool synchronousCommit = false) : IAsyncDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), $"ledger-test-pg-{Environment.ProcessId}-{Guid.NewGuid():N}"[..40]);
    private readonly int _port = FreePort();
    private readonly bool _asRoot = Environment.UserName == "root";
    private readonly string _bin = FindBinaries();
    private string Data => Path.Combine(_dir, "data");

    public string ConnectionString => $"Host=127.0.0.1;Port={_port};Username=postgres;Database=postgres;Pooling=false";
    private PostgresCluster? _primary;

    /// <summary>
    /// A streaming replica of <paramref name="primary"/> (pg_basebackup -R: a hot standby that replays the primary's WAL
    /// as it comes), made at its first start. <see cref="ConnectionStringFor"/> reaches a database copied from the primary.
    /// </summary>
    public static PostgresCluster StandbyOf(PostgresCluster primary) => new() { _primary = primary };

    /// <summary>The same database (by name) on this cluster.</summary>
    public string ConnectionStringFor(string database) =>
        new NpgsqlConnectionStringBuilder(ConnectionString) { Database = new NpgsqlConnectionStringBuilder(database).Database, Pooling = true }.ConnectionString;

    public async Task StartAsync()
    {
        if (!Directory.Exists(Data))
        {
            Directory.CreateDirectory(_dir);
            if (_asRoot) await Run("chown", ["postgres", _dir]);
            if (_primary is null) await RunPg("initdb", ["-D", Data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync"]);
            else
                await RunPg("pg_basebackup", ["-h", "127.0.0.1", "-p", _primary._port.ToString(), "-U", "postgres", "-D", Data, "-R", "-X", "stream",
                    "--checkpoint=fast", "--no-sync"]);
        }
        // fsync off: the machine does not crash under a test. A stopped PostgreSQL does lose unwritten WAL, hence the option.
        await RunPg("pg_ctl", ["-D", Data, "-l", Path.Combine(_dir, "log"), "-w", "start", "-o",
            $"-p {_port} -k {_dir} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit={(synchronousCommit ? "on" : "off")} " +
            "-c full_page_writes=off -c max_connections=400 -c shared_buffers=256MB"]);
    }

    /// <summary>Stops the server at once, as a crash or an operator would: connections are cut.</summary>
    public Task StopAsync() => RunPg("pg_ctl", ["-D", Data, "-m", "immediate", "-w", "stop"]);

    public async Task<string> CreateDatabaseAsync()
    {
        var name = $"t_{Guid.NewGuid():N}"[..18];
        await using (var connection = new NpgsqlConnection(ConnectionString))
        {
            await connection.OpenAsync();
            await using var create = new NpgsqlCommand($"create database {name}", connection);
            await create.ExecuteNonQueryAsync();
        }
        return new NpgsqlConnectionStringBuilder(ConnectionString) { Database = name, Pooling = true }.ConnectionString;
    }

    public async ValueTask DisposeAsync()
    {
        try { await StopAsync(); } catch (InvalidOperationException) { /* already stopped */ }
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { /* best effort: it is under /tmp */ }
    }

    private static string FindBinaries()
    {
        var candidates = Directory.Exists("/usr/lib/postgresql")
            ? Directory.GetDirectories("/usr/lib/postgresql").OrderByDescending(d => d).Select(d => Path.Combine(d, "bin"))
            : [];
        return candidates.FirstOrDefault(d => File.Exists(Path.Combine(d, "initdb")))
            ?? throw new InvalidOperationException(
                "No PostgreSQL server binaries under /usr/lib/postgresql. Run `make deps` (apt-get install postgresql) or set LEDGER_TEST_PG.");
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private Task RunPg(string tool, string[] args)
    {
        var exe = Path.Combine(_bin, tool);
        return _asRoot ? Run("runuser", ["-u", "postgres", "--", exe, .. args]) : Run(exe, args);
    }

    private static async Task Run(string exe, string[] args)
    {
        var psi = new ProcessStartInfo(exe) { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = "/" };
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        await p.WaitForExitAsync();
        if (p.ExitCode != 0)
            throw new InvalidOperationException($"{exe} {string.Join(' ', args)} exited {p.ExitCode}: {await stdout} {await stderr}");
    }
}

/// <summary>A database of its own for one test class, so classes run in parallel. Left behind for inspection.</summary>
public sealed class TestDatabase : IAsyncLifetime
{
    public string Name { get; } = $"t_{Guid.NewGuid():N}"[..18];
    public string ConnectionString { get; private set; } = "";

    public async ValueTask InitializeAsync()
    {
        var server = await PostgresServer.ConnectionStringAsync();
        await using (var connection = new NpgsqlConnection(server))
        {
            await connection.OpenAsync();
            await using var create = new NpgsqlCommand($"create database {Name}", connection);
            await create.ExecuteNonQueryAsync();
        }
        ConnectionString = new NpgsqlConnectionStringBuilder(server) { Database = Name, Pooling = true }.ConnectionString;
    }

    /// <summary>A database made elsewhere (a cluster of the test's own), for the same helpers.</summary>
    public static TestDatabase Existing(string connectionString) => new() { ConnectionString = connectionString };

    public NpgsqlDataSource CreateDataSource() => NpgsqlDataSource.Create(ConnectionString);

    public async Task<T> ScalarAsync<T>(string sql, params object[] parameters)
    {
        await using var ds = CreateDataSource();
        await using var cmd = ds.CreateCommand(sql);
        foreach (var p in parameters) cmd.Parameters.Add(new NpgsqlParameter { Value = p });
        return (T)(await cmd.ExecuteScalarAsync())!;
    }

    public async Task ExecuteAsync(string sql, params object[] parameters)
    {
        await using var ds = CreateDataSource();
        await using var cmd = ds.CreateCommand(sql);
        foreach (var p in parameters) cmd.Parameters.Add(new NpgsqlParameter { Value = p });
        await cmd.ExecuteNonQueryAsync();
    }

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;
}
