-- The event store: streams and their events. Nothing here knows what a payment is.

create table if not exists streams (
    stream_id   text primary key,
    stream_type text not null,
    -- The version of the last event. Appends compare-and-set it: the row lock it takes is what makes
    -- two writers at the same expected version queue, and the loser see a conflict instead of a gap.
    version     bigint not null,
    created_at  timestamptz not null,
    updated_at  timestamptz not null
);

create table if not exists events (
    sequence       bigint generated always as identity primary key,
    stream_id      text not null references streams (stream_id),
    version        bigint not null,
    type           text not null,
    -- json, not jsonb: the exact text is kept, so the hash an auditor recomputes matches byte for byte.
    data           json not null,
    metadata       json not null,
    occurred_at    timestamptz not null,
    -- The writing transaction. Readers of the global log order by (transaction_id, sequence) and
    -- stop at the oldest transaction still in flight, so a late commit with a low sequence is never skipped.
    transaction_id xid8 not null default pg_current_xact_id(),
    previous_hash  bytea,
    hash           bytea not null,
    constraint events_stream_version unique (stream_id, version)
);

create index if not exists events_commit_order on events (transaction_id, sequence);

-- The text an event's hash covers. Documented in docs/events.md so auditors can recompute it.
create or replace function ledger_event_canonical(
    p_stream_id text, p_version bigint, p_type text, p_occurred_at timestamptz, p_data json, p_metadata json)
returns text language sql stable as $$
    select p_stream_id || E'\n' || p_version::text || E'\n' || p_type || E'\n'
        || to_char(p_occurred_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') || E'\n'
        || p_data::text || E'\n' || p_metadata::text
$$;

-- Appends events to a stream at an expected version (0: the stream must not exist yet).
-- One call, one round trip. Raises SQLSTATE LDG01 when the stream is not at the expected version.
create or replace function ledger_append(
    p_stream_id text, p_stream_type text, p_expected bigint,
    p_types text[], p_data json[], p_metadata json[], p_occurred_at timestamptz[])
returns table (appended_sequence bigint, appended_version bigint)
language plpgsql as $$
declare
    v_count   int := cardinality(p_types);
    v_prev    bytea;
    v_hash    bytea;
    v_version bigint := p_expected;
    v_actual  bigint;
begin
    if p_expected = 0 then
        -- A concurrent creator holds the key until it commits; then this insert does nothing.
        insert into streams (stream_id, stream_type, version, created_at, updated_at)
        values (p_stream_id, p_stream_type, v_count, p_occurred_at[1], p_occurred_at[v_count])
        on conflict do nothing;
    else
        -- The row lock makes a second writer at the same expected version wait, then find the version moved.
        update streams set version = p_expected + v_count, updated_at = p_occurred_at[v_count]
        where stream_id = p_stream_id and version = p_expected;
    end if;
    if not found then
        select version into v_actual from streams where stream_id = p_stream_id;
        raise exception 'stream % is at version %, not the expected %', p_stream_id, coalesce(v_actual, 0), p_expected
            using errcode = 'LDG01';
    end if;
    if p_expected > 0 then
        select hash into v_prev from events where stream_id = p_stream_id and version = p_expected;
    end if;
    for i in 1 .. v_count loop
        v_version := v_version + 1;
        v_hash := sha256(coalesce(v_prev, ''::bytea) || convert_to(
            ledger_event_canonical(p_stream_id, v_version, p_types[i], p_occurred_at[i], p_data[i], p_metadata[i]), 'UTF8'));
        insert into events (stream_id, version, type, data, metadata, occurred_at, previous_hash, hash)
        values (p_stream_id, v_version, p_types[i], p_data[i], p_metadata[i], p_occurred_at[i], v_prev, v_hash)
        returning sequence into appended_sequence;
        appended_version := v_version;
        return next;
        v_prev := v_hash;
    end loop;
end
$$;

-- Events are facts. Changing one is refused here; audit verify detects it if someone forces it anyway.
create or replace function ledger_events_are_immutable() returns trigger language plpgsql as $$
begin
    raise exception 'events are immutable: % refused on event log', tg_op using errcode = 'LDG02';
end
$$;

drop trigger if exists events_are_immutable on events;
create trigger events_are_immutable before update or delete on events
    for each row execute function ledger_events_are_immutable();
drop trigger if exists events_no_truncate on events;
create trigger events_no_truncate before truncate on events
    for each statement execute function ledger_events_are_immutable();
