using System.Collections.Concurrent;
using System.Data.Common;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using JasperFx;
using JasperFx.Events;
using JasperFx.Events.Projections;
using Marten;
using Marten.Events.Projections;
using Marten.Services;
using Marten.Storage;
using Marten.Internal.Operations;
using Npgsql;
using Weasel.Core;
using Weasel.Postgresql;
using Weasel.Storage;

namespace Ledger.EventStore;

/// <summary>How Ledger configures Marten's event store: one place, shared by the host, the tools and the tests.</summary>
public static class MartenEventLog
{
    /// <summary>Marten's schema: its tables (mt_events, mt_streams) and Ledger's event_chain beside them.</summary>
    public const string Schema = "ledger";

    public const string IdempotencyKeyHeader = "idempotencyKey";
    /// <summary>The header an event carries its content hash in, from the host to the chain trigger (which removes it).</summary>
    public const string ContentHashHeader = "ledgerContentHash";

    /// <summary>The tenant Marten writes when there is no tenancy.</summary>
    public const string DefaultTenant = "*DEFAULT*";

    public static IReadOnlyList<Migration> Migrations { get; } = Migration.EmbeddedIn(typeof(MartenEventLog).Assembly, "event_chain");

    /// <summary>
    /// String stream keys, the event types under their stable names, metadata in Marten's columns, the events' own time
    /// as Marten's timestamp, and <paramref name="projections"/> as one inline projection: their statements join the
    /// append's batch and commit with it.
    /// </summary>
    /// <param name="publishers">Messages the appends publish through Marten's message outbox (none: the outbox is never opened).</param>
    public static void Configure<TEvent>(
        StoreOptions options, IEventCodec<TEvent> codec, IReadOnlyList<IInlineProjection<TEvent>> projections,
        IReadOnlyList<IInlinePublisher<TEvent>>? publishers = null)
        where TEvent : class
    {
        options.DatabaseSchemaName = Schema;
        options.Events.DatabaseSchemaName = Schema;
        options.Events.StreamIdentity = StreamIdentity.AsString;
        // Quick: the database assigns sequence numbers in one call per stream (no round trip to reserve them);
        // WithServerTimestamps: the timestamp is the one the application gives (the event's own time), so a read
        // "as of" a moment and a rebuild agree with the events.
        options.Events.AppendMode = EventAppendMode.QuickWithServerTimestamps;
        options.Events.MetadataConfig.CorrelationIdEnabled = true;
        options.Events.MetadataConfig.CausationIdEnabled = true;
        options.Events.MetadataConfig.HeadersEnabled = true;
        options.Events.MetadataConfig.UserNameEnabled = true;
        foreach (var (type, name) in codec.EventTypes) options.Events.MapEventType(type, name);
        options.UseSystemTextJsonForSerialization(configure: json =>
        {
            json.PropertyNamingPolicy = JsonNamingPolicy.CamelCase;
            json.DictionaryKeyPolicy = null; // a merchant's metadata keys are kept as sent
            // The events' source-generated metadata first; reflection for whatever else Marten writes (headers).
            if (codec.JsonResolver is { } resolver)
                json.TypeInfoResolver = JsonTypeInfoResolver.Combine(resolver, json.TypeInfoResolver ?? new DefaultJsonTypeInfoResolver());
        });
        options.Projections.Add(new InlineSql<TEvent>(codec, projections, publishers ?? []), ProjectionLifecycle.Inline);
        // A "marten.connection" span per session's connection, with an event per command batch: only while a tracer
        // listens to the "Marten" source (Marten checks), so nothing with tracing off.
        options.OpenTelemetry.TrackConnections = JasperFx.OpenTelemetry.TrackLevel.Normal;
        // Schema changes only through ApplySchemaAsync (start-up, `db migrate`), never lazily on a session's first use.
        options.AutoCreateSchemaObjects = AutoCreate.None;
        // Its default logger would write each statement of a failed commit with its parameter values.
        options.Logger(new QuietMartenLogger());
    }

    /// <summary>
    /// Marten's schema first, then Ledger's migrations (<paramref name="migrations"/>, by default only the chain's,
    /// which needs mt_events to exist). Returns the migrations it applied.
    /// Marten applies its part by comparing every object with the database (0.3-0.6 s of a start here), so the
    /// fingerprint of the DDL it would write is recorded once it is applied, and a start whose fingerprint is recorded
    /// skips the comparison (<paramref name="compareMartensSchema"/>: always compare, as `db migrate` does).
    /// Marten itself never changes the schema at run time (<see cref="AutoCreate.None"/> in <see cref="Configure"/>).
    /// </summary>
    public static async Task<IReadOnlyList<Migration>> ApplySchemaAsync(
        IDocumentStore store, NpgsqlDataSource dataSource, IEnumerable<Migration>? migrations = null, bool compareMartensSchema = false,
        CancellationToken ct = default)
    {
        var migrator = new SchemaMigrator(dataSource);
        var fingerprint = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(Encoding.UTF8.GetBytes(store.Storage.ToDatabaseScript())));
        if (compareMartensSchema || !await migrator.IsRecordedAsync(fingerprint, ct))
        {
            await store.Storage.Database.ApplyAllConfiguredChangesToDatabaseAsync(AutoCreate.CreateOrUpdate, ct: ct);
            await migrator.RecordAsync(fingerprint, ct);
        }
        return await migrator.MigrateAsync(migrations ?? Migrations, ct);
    }

    /// <summary>A store and its log over <paramref name="dataSource"/>, schema applied: for tools and tests that have no host.</summary>
    public static async Task<EventLog<TEvent>> OpenAsync<TEvent>(
        NpgsqlDataSource dataSource, IEventCodec<TEvent> codec, IReadOnlyList<IInlineProjection<TEvent>> projections, CancellationToken ct = default)
        where TEvent : class
    {
        var store = DocumentStore.For(options =>
        {
            options.Connection(dataSource);
            Configure(options, codec, projections);
        });
        await ApplySchemaAsync(store, dataSource, ct: ct);
        return new EventLog<TEvent>(store, dataSource, codec);
    }
}

/// <summary>
/// Ledger's inline projections as one Marten inline projection. Each writes plain SQL (one definition of its rules,
/// shared with the rebuild); here those statements are queued on Marten's unit of work, after the events. The
/// publishers' messages go to the session's message sink: Marten's message outbox, which Wolverine's integration
/// (IntegrateWithWolverine) makes Wolverine's durable outbox, so they are stored in this transaction and sent after it.
/// </summary>
internal sealed class InlineSql<TEvent>(
    IEventCodec<TEvent> codec, IReadOnlyList<IInlineProjection<TEvent>> projections, IReadOnlyList<IInlinePublisher<TEvent>> publishers) : IProjection
    where TEvent : class
{
    public async Task ApplyAsync(IDocumentOperations operations, IReadOnlyList<IEvent> events, CancellationToken cancellation)
    {
        var pending = new List<PendingEvent<TEvent>>(events.Count);
        // The Marten events behind the pending ones, for the messages' metadata: only when something may publish.
        var sources = publishers.Count > 0 ? new List<IEvent>(events.Count) : null;
        object? state = null;
        for (var i = 0; i < events.Count; i++)
            if (events[i] is { Data: TEvent data } e)
            {
                // The first event of each stream's run carries what its writer folded before the append.
                if (i == 0 || events[i - 1].StreamKey != e.StreamKey) state = StreamStates.Recall(data);
                pending.Add(new PendingEvent<TEvent>(e.StreamKey!, e.Version, codec.TypeNameOf(data), data, codec.OccurredAt(data),
                    new EventMetadata(e.CorrelationId, e.CausationId, e.GetHeader(MartenEventLog.IdempotencyKeyHeader) as string, e.UserName),
                    state));
                sources?.Add(e);
            }
        if (pending.Count == 0) return;
        // The statements are queued here and sent with the events in Marten's one batch: the span is the projections' own work.
        using var span = LedgerActivity.Start("ledger.projections.inline");
        var commands = new List<NpgsqlBatchCommand>(8);
        foreach (var projection in projections) projection.Project(pending, commands);
        span?.SetTag("ledger.events", pending.Count);
        span?.SetTag("ledger.statements", commands.Count);
        foreach (var command in commands) operations.QueueOperation(new SqlOperation(command));

        IMessageSink? sink = null;
        foreach (var publisher in publishers)
            foreach (var (index, message) in publisher.MessagesFor(pending))
            {
                sink ??= await ((IStorageOperations)operations).GetOrStartMessageSink();
                await sink.PublishAsync(message, MessageMetadata.From(sources![index]));
            }
    }
}

/// <summary>
/// The state a writer decided an append on, from <see cref="EventLog{TEvent}.AppendAsync"/> to the inline projection that
/// runs inside the same SaveChanges. Keyed by the append's first event object (by reference), so it goes when the event does.
/// </summary>
internal static class StreamStates
{
    private static readonly System.Runtime.CompilerServices.ConditionalWeakTable<object, object> States = new();

    public static void Remember(object firstEvent, object state) => States.AddOrUpdate(firstEvent, state);

    public static object? Recall(object firstEvent) => States.TryGetValue(firstEvent, out var state) ? state : null;
}

/// <summary>
/// One SQL statement written with <c>$n</c> parameters, as a Marten storage operation. Parameters keep the type
/// their author gave them (jsonb, say); untyped ones are left for Npgsql to infer, as they would be on their own.
/// </summary>
internal sealed class SqlOperation(NpgsqlBatchCommand command) : Marten.Internal.Operations.IStorageOperation
{
    // Per statement text: its pieces, which parameter each $n is, and the type its author gave each (or null).
    // A statement's text comes from one place in the code, which types its parameters the same way every time,
    // so the (costly) question "was this type given or inferred?" is asked once per text.
    private static readonly ConcurrentDictionary<string, (string[] Text, int[] Parameters, NpgsqlTypes.NpgsqlDbType?[] Types)> Parsed = new();

    public void ConfigureCommand(Weasel.Postgresql.ICommandBuilder builder, IStorageSession session)
    {
        var (text, parameters, types) = Parsed.GetOrAdd(command.CommandText, static (sql, c) => Parse(sql, c), command);
        for (var i = 0; i < parameters.Length; i++)
        {
            builder.Append(text[i]);
            builder.AppendParameter(command.Parameters[parameters[i]].Value ?? DBNull.Value, types[parameters[i]]);
        }
        builder.Append(text[^1]);
    }

    // "a $1 b $2" -> ["a ", " b ", ""] and [0, 1]
    private static (string[], int[], NpgsqlTypes.NpgsqlDbType?[]) Parse(string sql, NpgsqlBatchCommand first)
    {
        var text = new List<string>();
        var parameters = new List<int>();
        var current = new StringBuilder();
        for (var i = 0; i < sql.Length; i++)
        {
            if (sql[i] == '$' && i + 1 < sql.Length && char.IsAsciiDigit(sql[i + 1]))
            {
                var j = i + 1;
                while (j < sql.Length && char.IsAsciiDigit(sql[j])) j++;
                text.Add(current.ToString());
                current.Clear();
                parameters.Add(int.Parse(sql.AsSpan(i + 1, j - i - 1), provider: System.Globalization.CultureInfo.InvariantCulture) - 1);
                i = j - 1;
            }
            else current.Append(sql[i]);
        }
        text.Add(current.ToString());
        var types = first.Parameters.Select(p =>
            p.NpgsqlDbType == new NpgsqlParameter { Value = p.Value }.NpgsqlDbType ? (NpgsqlTypes.NpgsqlDbType?)null : p.NpgsqlDbType).ToArray();
        return (text.ToArray(), parameters.ToArray(), types);
    }

    // A type Marten already knows, so it looks for no document storage to create for these statements.
    public Type DocumentType => typeof(StorageFeatures);

    public Task PostprocessAsync(DbDataReader reader, IList<Exception> exceptions, CancellationToken token) => Task.CompletedTask;

    public OperationRole Role() => OperationRole.Other;
}

/// <summary>
/// Marten's logging, switched off. Its default logger writes each statement of a failed commit with every parameter
/// value (event JSON, stored answers) into the application's log; Ledger reports failures as exceptions instead
/// (Problems in the host), and schema changes are visible in <c>db script</c>.
/// </summary>
public sealed class QuietMartenLogger : Marten.IMartenLogger, Marten.IMartenSessionLogger
{
    public Marten.IMartenSessionLogger StartSession(IQuerySession session) => this;
    public void SchemaChange(string sql) { }
    public void LogSuccess(NpgsqlCommand command) { }
    public void LogFailure(NpgsqlCommand command, Exception ex) { }
    public void LogSuccess(NpgsqlBatch batch) { }
    public void LogFailure(NpgsqlBatch batch, Exception ex) { }
    public void LogFailure(Exception ex, string message) { }
    public void RecordSavedChanges(IDocumentSession session, IChangeSet commit) { }
    public void OnBeforeExecute(NpgsqlCommand command) { }
    public void OnBeforeExecute(NpgsqlBatch batch) { }
}
