using System.Globalization;
using JasperFx.CommandLine;
using Ledger.Host.Webhooks;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using Spectre.Console;

namespace Ledger.Host.Cli;

public sealed class WebhooksInput : ILedgerInput
{
    [Description("What to do: list | replay")]
    public string Action { get; set; } = "";

    [Description("list: only this merchant's endpoints"), FlagAlias("merchant", true)]
    public string? MerchantFlag { get; set; }

    [Description("replay: the endpoint whose deliveries to send again"), FlagAlias("endpoint", true)]
    public string? EndpointFlag { get; set; }

    [Description("replay: send again every delivery made at or after this moment (RFC 3339, e.g. 2026-12-07T10:00:00Z)"), FlagAlias("since", true)]
    public string? SinceFlag { get; set; }
}

[Description("Webhook endpoints: `list` shows each with its deliveries by status; `replay --endpoint ID --since TIME` sends a range again", Name = "webhooks")]
public sealed class WebhooksCommand : LedgerCommand<WebhooksInput>
{
    public WebhooksCommand(CliContext cli) : base(cli)
    {
        Usage("Each live endpoint with its deliveries by status: list [--merchant ID]").Arguments(x => x.Action).ValidFlags(x => x.MerchantFlag!);
        Usage("Send an endpoint's deliveries made since a moment again, same event ids, in order: replay --endpoint ID --since TIME")
            .Arguments(x => x.Action).ValidFlags(x => x.EndpointFlag!, x => x.SinceFlag!);
    }

    protected override IReadOnlyDictionary<string, Func<WebhooksInput, Task<bool>>> Actions =>
        new Dictionary<string, Func<WebhooksInput, Task<bool>>> { ["list"] = List, ["replay"] = Replay };

    private async Task<bool> List(WebhooksInput input)
    {
        if (input.EndpointFlag is not null || input.SinceFlag is not null) throw new UsageException("`webhooks list` takes only --merchant.");
        await using var services = Cli.Services();
        var db = services.GetRequiredService<NpgsqlDataSource>();
        await using var cmd = db.CreateCommand("""
            select e.id, e.merchant_id, e.url, array_to_string(e.event_types, ' '), e.created_at,
                   count(*) filter (where d.status = 'pending'), count(*) filter (where d.status = 'delivered'),
                   count(*) filter (where d.status = 'dead'), max(d.delivered_at)
            from webhook_endpoints e left join webhook_deliveries d on d.endpoint_id = e.id
            where e.deleted_at is null and ($1::text is null or e.merchant_id = $1)
            group by e.id order by e.merchant_id, e.created_at
            """);
        cmd.Parameters.Add(new NpgsqlParameter { Value = (object?)input.MerchantFlag ?? DBNull.Value, NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Text });
        var table = new Table().AddColumns("endpoint", "merchant", "url", "events", "created", "pending", "delivered", "dead", "last delivered");
        var rows = 0;
        await using (var r = await cmd.ExecuteReaderAsync(Cli.Stop))
            while (await r.ReadAsync(Cli.Stop))
            {
                rows++;
                string Time(int i) => r.IsDBNull(i) ? "-" : r.GetDateTime(i).ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);
                table.AddRow(r.GetString(0), Markup.Escape(r.GetString(1)), Markup.Escape(r.GetString(2)), r.GetString(3), Time(4),
                    r.GetInt64(5).ToString(CultureInfo.InvariantCulture), r.GetInt64(6).ToString(CultureInfo.InvariantCulture),
                    r.GetInt64(7).ToString(CultureInfo.InvariantCulture), Time(8));
            }
        if (rows == 0) Cli.Console.WriteLine("No webhook endpoints.");
        else Cli.Console.Write(table);
        return true;
    }

    private async Task<bool> Replay(WebhooksInput input)
    {
        if (input.MerchantFlag is not null) throw new UsageException("`webhooks replay` takes --endpoint and --since, not --merchant.");
        var endpoint = input.EndpointFlag ?? throw new UsageException("`webhooks replay` needs --endpoint ID.");
        var since = StreamsCommand.ParseTime(input.SinceFlag ?? throw new UsageException("`webhooks replay` needs --since TIME."))!.Value;
        await using var services = Cli.Services();
        var db = services.GetRequiredService<NpgsqlDataSource>();
        await using var batch = db.CreateBatch();
        var exists = new NpgsqlBatchCommand("select count(*) from webhook_endpoints where id = $1 and deleted_at is null");
        exists.Parameters.Add(new NpgsqlParameter<string> { TypedValue = endpoint });
        // Pending again from now, with a fresh retry window; the dispatcher sends them with the same event ids, in order per payment.
        var replay = new NpgsqlBatchCommand("""
            update webhook_deliveries set status = 'pending', next_attempt_at = now(), retry_until = null
            where endpoint_id = $1 and created_at >= $2 and status <> 'canceled'
              and exists (select 1 from webhook_endpoints where id = $1 and deleted_at is null)
            """);
        replay.Parameters.Add(new NpgsqlParameter<string> { TypedValue = endpoint });
        replay.Parameters.Add(new NpgsqlParameter<DateTime> { TypedValue = since.UtcDateTime, NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.TimestampTz });
        batch.BatchCommands.Add(exists);
        batch.BatchCommands.Add(replay);
        batch.BatchCommands.Add(new NpgsqlBatchCommand($"select pg_notify('{WebhookFanOut.Channel}', '')"));
        long found;
        await using (var reader = await batch.ExecuteReaderAsync(Cli.Stop))
        {
            await reader.ReadAsync(Cli.Stop);
            found = reader.GetInt64(0);
        }
        if (found == 0) throw new UsageException($"No live webhook endpoint {endpoint}; `webhooks list` shows them.");
        Cli.Console.WriteLine(
            $"{replay.RecordsAffected} deliveries of {endpoint} made since {since.UtcDateTime:yyyy-MM-dd'T'HH:mm:ss'Z'} are queued again; the dispatcher sends them in order, with the same event ids.");
        return true;
    }
}
