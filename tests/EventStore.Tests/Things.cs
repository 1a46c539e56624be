using System.Text.Json;

namespace Ledger.EventStore.Tests;

/// <summary>A stand-in event family: the store must work for anything, not just payments.</summary>
public sealed record ThingHappened(string What, DateTimeOffset At);

public sealed class ThingCodec : IEventCodec<ThingHappened>
{
    public IReadOnlyList<(Type Type, string Name)> EventTypes { get; } = [(typeof(ThingHappened), "thing_happened")];
    public string TypeNameOf(ThingHappened e) => "thing_happened";
    public DateTimeOffset OccurredAt(ThingHappened e) => e.At;
    public string Serialize(ThingHappened e) => JsonSerializer.Serialize(e, Json);
    public ThingHappened Deserialize(string typeName, string json) => JsonSerializer.Deserialize<ThingHappened>(json, Json)!;
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);
}

/// <summary>An inline projection that records every event it saw, one row per (stream, version).</summary>
public sealed class SeenProjection : IInlineProjection<ThingHappened>
{
    public const string Schema = "create table if not exists seen (stream_id text, version bigint, what text, primary key (stream_id, version))";
    public string Name => "seen";

    public void Project(IReadOnlyList<PendingEvent<ThingHappened>> events, ICollection<Npgsql.NpgsqlBatchCommand> commands)
    {
        foreach (var e in events)
        {
            var cmd = new Npgsql.NpgsqlBatchCommand("insert into seen values ($1, $2, $3) on conflict do nothing");
            cmd.Parameters.Add(new() { Value = e.StreamId });
            cmd.Parameters.Add(new() { Value = e.Version });
            cmd.Parameters.Add(new() { Value = e.Data.What });
            commands.Add(cmd);
        }
    }
}

public static class Thing
{
    private static readonly DateTimeOffset Epoch = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);
    public static ThingHappened At(string what, int minute) => new(what, Epoch.AddMinutes(minute));
    public static DateTimeOffset Minute(int minute) => Epoch.AddMinutes(minute);
}
