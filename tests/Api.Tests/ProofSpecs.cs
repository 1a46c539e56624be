using System.Net;
using System.Text.Json;
using Ledger.EventStore;
using Ledger.EventStore.Audit;
using Shouldly;
using Xunit;

namespace Ledger.Api.Tests;

/// <summary>
/// Issue 13's inclusion proofs: GET /v1/payments/{id}/proof gives what an outsider needs to check, with the payment's
/// events, a checkpoint and the public key alone, that the payment is in the log under that checkpoint. The outsider
/// here is scripts/verify-proof.py (Python's standard library and openssl), not Ledger's own code.
/// </summary>
public sealed class ProofSpecs(CheckpointingApp app) : IClassFixture<CheckpointingApp>
{
    [Fact]
    public async Task Every_payment_of_a_10000_payment_log_has_a_proof_an_outsider_checks_and_an_edited_event_fails_it()
    {
        // 10,000 payments from eight clients at once, every fifth refunded in part: 22,000 events (the class's other
        // spec may add its own).
        const int Payments = 10_000;
        var before = await app.Database.ScalarAsync<long>("select count(*) from ledger.events");
        var ids = new System.Collections.Concurrent.ConcurrentBag<string>();
        await Parallel.ForEachAsync(Enumerable.Range(0, Payments), new ParallelOptions { MaxDegreeOfParallelism = 8 }, async (i, _) =>
        {
            var client = app.Client(LedgerApp.Acme);
            var charged = await client.Charge(Requests.Charge(amount: 1000 + i));
            charged.StatusCode.ShouldBe(HttpStatusCode.Created);
            var id = (await charged.Json()).Str("id");
            if (i % 5 == 0)
                (await client.PostJson($"/v1/payments/{id}/refunds", new System.Text.Json.Nodes.JsonObject { ["amount"] = 10 }, Requests.NewKey()))
                    .StatusCode.ShouldBe(HttpStatusCode.Created);
            ids.Add(id);
        });
        var events = await app.Database.ScalarAsync<long>("select count(*) from ledger.events");
        events.ShouldBe(before + Payments * 2 + Payments / 5);
        await CheckpointCovering(events);

        // Every proof is fetched as a merchant would, into one folder the outsider reads.
        var proofs = Directory.CreateDirectory(Path.Combine(app.Directory, "proofs")).FullName;
        var maxPath = (int)Math.Ceiling(Math.Log2(events + 100)); // O(log n) hashes per event
        await Parallel.ForEachAsync(ids, new ParallelOptions { MaxDegreeOfParallelism = 4 }, async (id, _) =>
        {
            var response = await app.Client(LedgerApp.Acme).GetAsync($"/v1/payments/{id}/proof");
            response.StatusCode.ShouldBe(HttpStatusCode.OK);
            var body = await response.Content.ReadAsStringAsync();
            var parsed = JsonDocument.Parse(body).RootElement;
            parsed.GetProperty("notYetCovered").GetArrayLength().ShouldBe(0);
            parsed.GetProperty("events").EnumerateArray().Select(e => e.GetProperty("path").GetArrayLength()).ShouldAllBe(n => n <= maxPath);
            await File.WriteAllTextAsync(Path.Combine(proofs, $"{id}.json"), body);
        });
        Directory.GetFiles(proofs, "*.json").Length.ShouldBe(Payments);
        var publicKey = Path.Combine(app.Directory, "served.pub");
        var served = await app.Scenario(LedgerApp.Auditor, s => s.Get.Url("/v1/audit/public-key"));
        await File.WriteAllTextAsync(publicKey, JsonDocument.Parse(await served.ReadAsTextAsync()).RootElement.Str("publicKey"));

        var outsider = await VerifyProofs(publicKey, [proofs]);
        outsider.Exit.ShouldBe(0, outsider.Output[..Math.Min(2000, outsider.Output.Length)]);
        var lines = outsider.Output.Split('\n');
        lines.Count(l => l.EndsWith(" ok", StringComparison.Ordinal)).ShouldBe(1 + Payments * 2 + Payments / 5 + Payments); // the signature, every event, every payment's links
        lines.Count(l => l.Contains("signature ok", StringComparison.Ordinal)).ShouldBe(1);
        outsider.Output.ShouldNotContain("FAILED");

        // A superuser changes a refund's amount after the checkpoint: its proof, served as the database now says, fails.
        var refunded = await app.Database.ScalarAsync<string>("select stream_id from ledger.events where type = 'payment_refunded' limit 1");
        await app.Database.ExecuteAsync($"begin; set local session_replication_role = replica; update ledger.mt_events set data = jsonb_set(data, '{{amount}}', '1') where stream_id = '{refunded}' and version = 3; commit;");
        var edited = await app.Scenario(LedgerApp.Acme, s => s.Get.Url($"/v1/payments/{refunded}/proof"));
        var editedFile = Path.Combine(app.Directory, "edited.json");
        await File.WriteAllTextAsync(editedFile, await edited.ReadAsTextAsync());
        var caught = await VerifyProofs(publicKey, [editedFile]);
        caught.Exit.ShouldBe(1, caught.Output);
        caught.Output.ShouldContain($"{refunded} version 3 at leaf ");
        caught.Output.ShouldContain("FAILED");
        caught.Output.ShouldContain($"{refunded} version 1 at leaf "); // the untouched events of that payment still check
    }

    [Fact]
    public async Task Checkpoints_are_served_to_auditors_signed_with_the_served_key()
    {
        var charged = await app.Client(LedgerApp.Globex).Charge(Requests.Charge(currency: "JPY"));
        charged.StatusCode.ShouldBe(HttpStatusCode.Created);
        var globexPayment = (await charged.Json()).Str("id");
        await CheckpointCovering(await app.Database.ScalarAsync<long>("select count(*) from ledger.events"));

        var latest = JsonDocument.Parse(await (await app.Scenario(LedgerApp.Auditor, s => s.Get.Url("/v1/audit/checkpoints/latest"))).ReadAsTextAsync()).RootElement;
        var page = JsonDocument.Parse(await (await app.Scenario(LedgerApp.Auditor, s => s.Get.Url("/v1/audit/checkpoints?limit=1000"))).ReadAsTextAsync()).RootElement;
        var last = page.GetProperty("data").EnumerateArray().Last();
        last.GetRawText().ShouldBe(latest.GetRawText());
        page.GetProperty("nextAfter").GetInt64().ShouldBe(latest.GetProperty("eventCount").GetInt64());
        // The served checkpoint is a line of the file, field for field, and its signature holds with the key on disk.
        CheckpointFile.Read(app.CheckpointFile).Select(l => l.Checkpoint).ShouldContain(Checkpoint.Parse(latest.GetRawText()));
        using var key = CheckpointKey.Load(app.PublicKeyFile);
        key.Verifies(Checkpoint.Parse(latest.GetRawText())!).ShouldBeTrue();
        var served = JsonDocument.Parse(await (await app.Scenario(LedgerApp.Acme, s => s.Get.Url("/v1/audit/public-key"))).ReadAsTextAsync()).RootElement;
        served.Str("keyId").ShouldBe(key.KeyId);
        served.Str("publicKey").ShouldBe(key.PublicKeyPem);

        await app.Scenario(LedgerApp.Acme, s => { s.Get.Url("/v1/audit/checkpoints"); s.StatusCodeShouldBe(403); });
        await app.Scenario(LedgerApp.Acme, s => { s.Get.Url("/v1/audit/checkpoints/latest"); s.StatusCodeShouldBe(403); });
        await app.Scenario(LedgerApp.Auditor, s => { s.Get.Url("/v1/audit/checkpoints?limit=0"); s.StatusCodeShouldBe(400); });
        await app.Scenario(LedgerApp.Acme, s => { s.Get.Url($"/v1/payments/{globexPayment}/proof"); s.StatusCodeShouldBe(404); });
        var missing = await app.Scenario(LedgerApp.Globex, s => { s.Get.Url($"/v1/payments/{globexPayment}/proof?eventCount=999999"); s.StatusCodeShouldBe(404); });
        JsonDocument.Parse(await missing.ReadAsTextAsync()).RootElement.Str("code").ShouldBe("checkpoint_not_found");
        await app.Scenario(LedgerApp.Globex, s => { s.Get.Url($"/v1/payments/{globexPayment}/proof?eventCount=abc"); s.StatusCodeShouldBe(400); });
        await app.Scenario(LedgerApp.Globex, s => { s.Get.Url($"/v1/payments/{globexPayment}/proof"); s.StatusCodeShouldBe(200); });
        var byAuditor = await app.Scenario(LedgerApp.Auditor, s => { s.Get.Url($"/v1/payments/{globexPayment}/proof"); s.StatusCodeShouldBe(200); });
        JsonDocument.Parse(await byAuditor.ReadAsTextAsync()).RootElement.Str("paymentId").ShouldBe(globexPayment); // the auditor reads any merchant's
    }

    /// <summary>The host's agent signs every second; wait (bounded) until its latest checkpoint covers every event.</summary>
    private async Task CheckpointCovering(long events)
    {
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (await app.Database.ScalarAsync<long>("select coalesce(max(event_count), 0) from ledger.audit_checkpoints") < events)
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"No checkpoint covers all {events} events after 60 s.");
            await Task.Delay(200);
        }
    }

    private static async Task<(int Exit, string Output)> VerifyProofs(string publicKey, IEnumerable<string> files)
    {
        var run = await ChildProcess.RunAsync("python3", [Path.Combine(ChildProcess.RepositoryRoot(), "scripts", "verify-proof.py"), publicKey, .. files]);
        return (run.Exit, run.Stdout + run.Stderr);
    }
}
