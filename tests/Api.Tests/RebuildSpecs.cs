using System.Collections.Concurrent;
using System.Net;
using System.Text.Json.Nodes;
using Ledger.Host.Cli;
using Shouldly;
using Xunit;

namespace Ledger.Api.Tests;

public sealed class RebuildSpecs(LedgerApp app) : IClassFixture<LedgerApp>
{
    [Fact]
    public async Task Rebuilding_every_projection_under_load_loses_nothing_doubles_nothing_and_keeps_reads_answering()
    {
        var acme = app.Client(LedgerApp.Acme);
        var globex = app.Client(LedgerApp.Globex);
        for (var i = 0; i < 150; i++) await (i % 2 == 0 ? acme : globex).Charge(Requests.Charge(amount: 100 + i, currency: i % 3 == 0 ? "EUR" : "USD"));
        var known = (await (await acme.Charge()).Json()).Str("id");

        using var stop = new CancellationTokenSource();
        var created = new ConcurrentBag<string>();
        var readStatuses = new ConcurrentBag<HttpStatusCode>();
        var writer = Task.Run(async () =>
        {
            var n = 0;
            while (!stop.IsCancellationRequested)
            {
                var payment = await (await acme.Charge(Requests.Charge(amount: 1000, card: n++ % 5 == 0 ? "4000000000000002" : Requests.GoodCard))).Json();
                created.Add(payment.Str("id"));
                if (payment.Str("status") == "succeeded")
                    (await acme.PostJson($"/v1/payments/{payment.Str("id")}/refunds", new JsonObject { ["amount"] = 250 }, Requests.NewKey()))
                        .StatusCode.ShouldBe(HttpStatusCode.Created);
            }
        });
        var reader = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                readStatuses.Add((await acme.GetAsync($"/v1/payments/{known}")).StatusCode);
                readStatuses.Add((await acme.GetAsync("/v1/payments?limit=5")).StatusCode);
                readStatuses.Add((await acme.GetAsync("/v1/metrics")).StatusCode);
            }
        });
        await app.Database.WaitUntil("select count(*) > 160 from payment_views");

        var (exit, output) = await Cli.Run(app, "projections", "rebuild");
        var createdDuringRebuild = created.Count;
        await app.Database.WaitUntil($"select count(*) > {createdDuringRebuild + 3} from payment_views");
        await stop.CancelAsync();
        await Task.WhenAll(writer, reader);

        exit.ShouldBe(ExitCodes.Ok, output);
        output.ShouldContain("events/s");
        var appendedWhileRebuilding = long.Parse(System.Text.RegularExpressions.Regex.Match(output, @"\(([\d,]+) appended while rebuilding\)").Groups[1].Value.Replace(",", ""));
        appendedWhileRebuilding.ShouldBeGreaterThan(0, output); // the catch-up path ran, not just the bulk fold
        readStatuses.ShouldNotBeEmpty();
        readStatuses.ShouldAllBe(s => s == HttpStatusCode.OK);
        foreach (var id in created)
            (await app.Database.ScalarAsync<long>("select count(*) from payment_views where id = $1", id)).ShouldBe(1, id);
        (await app.Database.ScalarAsync<long>("select count(*) from payment_views"))
            .ShouldBe(await app.Database.ScalarAsync<long>("select count(*) from ledger.streams"));
        var (audit, report) = await Cli.Run(app, "audit", "verify");
        audit.ShouldBe(ExitCodes.Ok, report); // every read table equals a fresh fold of the whole log
        (await app.Database.ScalarAsync<long>("select count(*) from information_schema.schemata where schema_name in ('ledger_rebuild', 'ledger_retired')")).ShouldBe(0);
    }
}
