using System.Reflection;
using System.Text;
using Npgsql;

namespace Ledger.EventStore;

/// <summary>One schema change of one module, applied once, in version order.</summary>
public sealed record Migration(string Module, int Version, string Name, string Sql)
{
    /// <summary>Reads the embedded resources named <c>NNN_name.sql</c> of an assembly, in order.</summary>
    public static IReadOnlyList<Migration> EmbeddedIn(Assembly assembly, string module) =>
        assembly.GetManifestResourceNames()
            .Where(n => n.EndsWith(".sql", StringComparison.Ordinal))
            .Select(n =>
            {
                var file = n.Split('.')[^2]; // Ledger.X.Sql.001_name.sql -> 001_name
                var version = int.Parse(file.AsSpan(0, file.IndexOf('_')), provider: System.Globalization.CultureInfo.InvariantCulture);
                using var reader = new StreamReader(assembly.GetManifestResourceStream(n)!, Encoding.UTF8);
                return new Migration(module, version, file, reader.ReadToEnd());
            })
            .OrderBy(m => m.Version)
            .ToList();
}

/// <summary>Brings a database to the current schema. Safe to run at every start, from several processes at once.</summary>
public sealed class SchemaMigrator(NpgsqlDataSource dataSource)
{
    // Any constant works: it only has to be the same for every Ledger process.
    private const long MigrationLockKey = 7_240_001;

    private const string CreateHistory = """
        create table if not exists schema_migrations (
            module     text not null,
            version    int  not null,
            name       text not null,
            applied_at timestamptz not null default now(),
            primary key (module, version)
        )
        """;

    public async Task<IReadOnlyList<Migration>> MigrateAsync(IEnumerable<Migration> migrations, CancellationToken ct = default)
    {
        await using var connection = await dataSource.OpenConnectionAsync(ct);
        await using var tx = await connection.BeginTransactionAsync(ct);
        // Two processes starting together: the second waits here, then finds nothing left to do.
        await Execute(connection, $"select pg_advisory_xact_lock({MigrationLockKey})", ct);
        await Execute(connection, CreateHistory, ct);
        var applied = await AppliedAsync(connection, ct);
        var pending = migrations.Where(m => !applied.Contains((m.Module, m.Version))).ToList();
        foreach (var m in pending)
        {
            await Execute(connection, m.Sql, ct);
            await using var record = new NpgsqlCommand("insert into schema_migrations (module, version, name) values ($1, $2, $3)", connection);
            record.Parameters.Add(new() { Value = m.Module });
            record.Parameters.Add(new() { Value = m.Version });
            record.Parameters.Add(new() { Value = m.Name });
            await record.ExecuteNonQueryAsync(ct);
        }
        await tx.CommitAsync(ct);
        return pending;
    }

    private const string CreateFingerprints = """
        create table if not exists marten_schema_fingerprints (
            fingerprint text primary key,
            applied_at  timestamptz not null default now()
        )
        """;

    /// <summary>Whether Marten's schema with this fingerprint (SHA-256 of its DDL) was applied to this database.</summary>
    public async Task<bool> IsRecordedAsync(string fingerprint, CancellationToken ct = default)
    {
        await using var connection = await dataSource.OpenConnectionAsync(ct);
        await Execute(connection, CreateFingerprints, ct);
        await using var cmd = new NpgsqlCommand("select exists (select 1 from marten_schema_fingerprints where fingerprint = $1)", connection);
        cmd.Parameters.Add(new() { Value = fingerprint });
        return (bool)(await cmd.ExecuteScalarAsync(ct))!;
    }

    public async Task RecordAsync(string fingerprint, CancellationToken ct = default)
    {
        await using var connection = await dataSource.OpenConnectionAsync(ct);
        // `db migrate` compares Marten's schema without asking IsRecordedAsync first: the table may not exist yet.
        await Execute(connection, CreateFingerprints, ct);
        await using var cmd = new NpgsqlCommand("insert into marten_schema_fingerprints (fingerprint) values ($1) on conflict do nothing", connection);
        cmd.Parameters.Add(new() { Value = fingerprint });
        await cmd.ExecuteNonQueryAsync(ct);
    }

    /// <summary>The migrations not yet applied; empty when the schema is current.</summary>
    public async Task<IReadOnlyList<Migration>> PendingAsync(IEnumerable<Migration> migrations, CancellationToken ct = default)
    {
        await using var connection = await dataSource.OpenConnectionAsync(ct);
        await using var exists = new NpgsqlCommand("select to_regclass('schema_migrations') is not null", connection);
        var applied = (bool)(await exists.ExecuteScalarAsync(ct))! ? await AppliedAsync(connection, ct) : [];
        return migrations.Where(m => !applied.Contains((m.Module, m.Version))).ToList();
    }

    /// <summary>The whole schema as one script, for a DBA who applies it by hand.</summary>
    public static string Script(IEnumerable<Migration> migrations)
    {
        var sb = new StringBuilder();
        sb.AppendLine("begin;").AppendLine(CreateHistory + ";");
        foreach (var m in migrations)
        {
            sb.AppendLine().AppendLine($"-- {m.Module} {m.Name}").AppendLine(m.Sql.TrimEnd());
            sb.AppendLine($"insert into schema_migrations (module, version, name) values ('{m.Module}', {m.Version}, '{m.Name}') on conflict do nothing;");
        }
        return sb.AppendLine("commit;").ToString();
    }

    private static async Task<HashSet<(string, int)>> AppliedAsync(NpgsqlConnection connection, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand("select module, version from schema_migrations", connection);
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        var applied = new HashSet<(string, int)>();
        while (await reader.ReadAsync(ct)) applied.Add((reader.GetString(0), reader.GetInt32(1)));
        return applied;
    }

    private static async Task Execute(NpgsqlConnection connection, string sql, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand(sql, connection);
        await cmd.ExecuteNonQueryAsync(ct);
    }
}
