using System.Net;
using Shouldly;
using Xunit;

namespace Ledger.Api.Tests;

public sealed class HealthSpecs(LedgerApp app) : IClassFixture<LedgerApp>
{
    [Fact]
    public async Task Live_and_ready_answer_without_a_key_when_all_is_well()
    {
        var live = await app.Client(null).GetAsync("/health/live");
        var ready = await app.Client(null).GetAsync("/health/ready");

        live.StatusCode.ShouldBe(HttpStatusCode.OK);
        ready.StatusCode.ShouldBe(HttpStatusCode.OK);
        var checks = (await ready.Json()).GetProperty("checks");
        checks.Str("database").ShouldBe("reachable, schema current");
        checks.Str("projections").ShouldBe("inline, current with every commit");
    }

    [Fact]
    public async Task Ready_goes_red_when_a_read_table_is_missing_or_the_schema_is_behind_while_live_stays_green()
    {
        await app.Database.ExecuteAsync("alter table receipt_lines rename to receipt_lines_gone");
        await app.Database.ExecuteAsync("delete from schema_migrations where module = 'read_model' and version = 6");
        try
        {
            var ready = await app.Client(null).GetAsync("/health/ready");

            ready.StatusCode.ShouldBe(HttpStatusCode.ServiceUnavailable);
            var checks = (await ready.Json()).GetProperty("checks");
            checks.Str("projections").ShouldContain("receipt_lines");
            checks.Str("database").ShouldContain("schema behind: read_model/006_projection_rebuilds");
            (await app.Client(null).GetAsync("/health/live")).StatusCode.ShouldBe(HttpStatusCode.OK);
        }
        finally
        {
            await app.Database.ExecuteAsync("alter table receipt_lines_gone rename to receipt_lines");
            await app.Database.ExecuteAsync("insert into schema_migrations (module, version, name) values ('read_model', 6, '006_projection_rebuilds')");
        }
    }
}
