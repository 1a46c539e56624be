using Ledger.Domain.Payments;
using Ledger.EventStore;
using Ledger.Host.Gateway;
using Ledger.Host.Http;
using Ledger.Host.Observability;
using Ledger.Host.Payments;
using Ledger.Host.WebConsole;
using Ledger.Host.Webhooks;
using Ledger.Projections;
using Ledger.Projections.Payments;
using Marten;
using Microsoft.Extensions.Options;
using Npgsql;
using Wolverine.Marten;

namespace Ledger.Host;

/// <summary>What the ledger is made of. Shared by the HTTP host and the command line.</summary>
public static class LedgerServices
{
    public static IReadOnlyList<Migration> AllMigrations { get; } =
        [.. MartenEventLog.Migrations, .. ReadModel.Migrations, .. Migration.EmbeddedIn(typeof(LedgerServices).Assembly, "host")];

    /// <param name="marten">More of Marten's configuration (the HTTP host's integration with Wolverine).</param>
    public static IServiceCollection AddLedgerStore(
        this IServiceCollection services, IConfiguration configuration, Action<MartenServiceCollectionExtensions.MartenConfigurationExpression>? marten = null)
    {
        services.AddSingleton(_ =>
        {
            var connectionString = configuration.GetConnectionString("Ledger")
                ?? throw new InvalidOperationException("ConnectionStrings:Ledger is not set (env ConnectionStrings__Ledger).");
            var builder = new NpgsqlDataSourceBuilder(connectionString);
            // Statements used twice are prepared on each connection: the append path is a handful of fixed statements.
            builder.ConnectionStringBuilder.MaxAutoPrepare = Math.Max(builder.ConnectionStringBuilder.MaxAutoPrepare, 64);
            builder.ConnectionStringBuilder.AutoPrepareMinUsages = 2;
            // Nothing of ours leaves session state behind (settings are transaction-local, locks released explicitly),
            // so skip the reset Npgsql would otherwise send each time a pooled connection is taken.
            builder.ConnectionStringBuilder.NoResetOnClose = true;
            builder.ConnectionStringBuilder.ApplicationName ??= "ledger";
            builder.Name = Observability.DatabasePool.PoolName; // the pool's metrics carry this name, never the connection string
            return builder.Build();
        });
        services.AddSingleton(sp => new SchemaMigrator(sp.GetRequiredService<NpgsqlDataSource>()));
        // Marten's event store on the same pool, with the read model's inline projections committed in each append.
        // Each append also publishes its notifications (Notifications/), through Marten's message outbox: Wolverine's durable
        // outbox in the HTTP host (IntegrateWithWolverine, below); nowhere in the command line, which appends nothing.
        var expression = services.AddMarten(sp =>
        {
            var options = new StoreOptions();
            options.Connection(sp.GetRequiredService<NpgsqlDataSource>());
            MartenEventLog.Configure(options, PaymentEventCodec.Instance, ReadModel.InlineProjections(), [new Notifications.PaymentNotifications(sp.GetService<Notifications.NotificationAudience>())]);
            return options;
        });
        marten?.Invoke(expression);
        services.AddSingleton(sp => new EventLog<PaymentEvent>(
            sp.GetRequiredService<IDocumentStore>(), sp.GetRequiredService<NpgsqlDataSource>(), PaymentEventCodec.Instance));
        services.AddSingleton(sp => new Ledger.EventStore.Audit.LogDigest(sp.GetRequiredService<NpgsqlDataSource>()));
        services.AddSingleton(TimeProvider.System);
        return services;
    }

    public static IServiceCollection AddLedger(this IServiceCollection services, IConfiguration configuration)
    {
        // Wolverine's Marten integration: its envelope tables (schema `wolverine`) on Marten's database, and Marten's message
        // outbox made Wolverine's, so the notifications an append publishes are stored in its transaction.
        // Its tables are built by the start-up migration (MigrateAsync), which only builds what AutoCreate allows; Wolverine
        // itself does not build them at start (Cluster.cs), and Marten's own schema stays AutoCreate.None.
        services.AddLedgerStore(configuration, marten => marten.IntegrateWithWolverine(integration =>
        {
            integration.MessageStorageSchemaName = Cluster.Schema;
            integration.AutoCreate = JasperFx.AutoCreate.CreateOrUpdate;
        }));
        services.AddLedgerWebhooks(configuration);
        services.AddSingleton<Secrets>();
        // Reads of the read model from a streaming replica, when ConnectionStrings:LedgerReplica is set (Http/ReadReplica.cs).
        services.Configure<ReplicaOptions>(configuration.GetSection("Ledger:Replica"));
        services.AddSingleton<ReadReplica>();
        services.AddHostedService<ReadReplica.Watch>();
        // Whether commits are also on a synchronous standby (SynchronousStandby.cs): /health/ready, /metrics, and the writes when required.
        services.Configure<SynchronousStandbyOptions>(configuration.GetSection("Ledger:Database"));
        services.AddSingleton<SynchronousStandby>();
        services.AddHostedService(sp => sp.GetRequiredService<SynchronousStandby>());
        services.Configure<IdempotencyOptions>(configuration.GetSection("Ledger:Idempotency"));
        services.AddSingleton<Idempotency>();
        services.Configure<SimulatorOptions>(configuration.GetSection("Ledger:Gateway:Simulator"));
        services.AddSingleton(_ =>
        {
            var connection = new NpgsqlConnectionStringBuilder(configuration.GetConnectionString("Ledger"))
            {
                Options = "-c synchronous_commit=off", ApplicationName = "ledger-gateway-simulator", NoResetOnClose = true,
                MaxAutoPrepare = 8, AutoPrepareMinUsages = 2,
            };
            // Named, so its metrics and spans say "ledger-gateway-simulator" rather than its connection string.
            return new SimulatedGateway.Books(new NpgsqlDataSourceBuilder(connection.ConnectionString) { Name = "ledger-gateway-simulator" }.Build());
        });
        services.AddSingleton<SimulatedGateway>();
        services.AddSingleton<IPaymentGateway>(sp => new RetryingGateway(
            sp.GetRequiredService<SimulatedGateway>(),
            configuration.GetSection("Ledger:Gateway:Retry").Get<GatewayRetryOptions>() ?? new GatewayRetryOptions(),
            sp.GetRequiredService<ILogger<RetryingGateway>>()));
        services.AddSingleton<ChargeCompletion>();
        services.Configure<SweepOptions>(configuration.GetSection("Ledger:Sweep"));
        // A Wolverine agent: one live host of those sharing the database runs it (Cluster.cs), not every host.
        services.AddSingleton<ResolvePendingPayments>();
        services.AddSingleton<Wolverine.Runtime.Agents.IAgentFamily>(sp => sp.GetRequiredService<ResolvePendingPayments>());
        services.AddOptions<Auditing.AuditOptions>().Bind(configuration.GetSection("Ledger:Audit")).ValidateOnStart();
        services.AddSingleton<IValidateOptions<Auditing.AuditOptions>, Auditing.AuditOptionsValidation>();
        services.AddSingleton<Auditing.WriteCheckpoints>();
        services.AddSingleton<Wolverine.Runtime.Agents.IAgentFamily>(sp => sp.GetRequiredService<Auditing.WriteCheckpoints>());
        services.AddLedgerTelemetry(configuration);
        services.AddApiKeys(configuration);
        services.AddLedgerRateLimits(configuration);
        services.AddLedgerConsole(configuration);
        services.AddLedgerHealth();
        services.AddLedgerOpenApi();
        Grpc.GrpcSetup.AddLedgerGrpc(services, configuration);
        // What the document says about JSON must be what the handlers accept: numbers are numbers, never strings.
        services.ConfigureHttpJsonOptions(json => json.SerializerOptions.NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.Strict);
        return services;
    }

    /// <summary>
    /// Marten's tables first (Ledger's event chain hangs off them), then Ledger's own migrations; then, in the HTTP
    /// host, Wolverine's (schema `wolverine`), once per Wolverine version: Wolverine does not build them itself at
    /// start-up (`AutoBuildMessageStorageOnStartup` None), which saves a comparison of its schema on every start.
    /// </summary>
    public static async Task<IReadOnlyList<Migration>> MigrateAsync(this IServiceProvider services, bool compareMartensSchema = false, CancellationToken ct = default)
    {
        var dataSource = services.GetRequiredService<NpgsqlDataSource>();
        var applied = await MartenEventLog.ApplySchemaAsync(services.GetRequiredService<IDocumentStore>(), dataSource, AllMigrations, compareMartensSchema, ct);
        if (services.GetService<Wolverine.Runtime.IWolverineRuntime>() is { } wolverine)
        {
            var migrator = services.GetRequiredService<SchemaMigrator>();
            var fingerprint = $"wolverine {typeof(Wolverine.IMessageBus).Assembly.GetName().Version} {Cluster.Schema}";
            if (compareMartensSchema || !await migrator.IsRecordedAsync(fingerprint, ct))
            {
                await wolverine.Storage.Admin.MigrateAsync();
                await migrator.RecordAsync(fingerprint, ct);
            }
        }
        return applied;
    }
}
