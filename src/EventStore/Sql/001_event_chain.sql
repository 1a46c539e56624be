-- What Ledger adds to Marten's event store (schema `ledger`, tables mt_events and mt_streams, owned by Marten
-- and its schema tool Weasel). Weasel drops columns it does not know from tables it owns, so nothing is added
-- to mt_events itself: the commit order and the hash chain live in event_chain, one row per event, written by a
-- trigger so that every path that writes Marten events (its append function, its per-event inserts, a COPY into
-- mt_events) is chained the same way. docs/decisions/0009 has the reasons.

create table if not exists ledger.event_chain (
    -- The event (mt_events.seq_id). Its stream and version are mt_events': not repeated here, so a chain row
    -- costs one heap tuple and two index entries.
    seq_id         bigint primary key,
    -- The writing transaction. Readers of the global log order by (transaction_id, seq_id) and stop at the
    -- oldest transaction still in flight, so a late commit with a low sequence is never skipped.
    transaction_id xid8 not null default pg_current_xact_id(),
    previous_hash  bytea,
    hash           bytea not null
);

create index if not exists event_chain_commit_order on ledger.event_chain (transaction_id, seq_id);

-- An event's metadata as one JSON value: Marten keeps correlation and causation ids, the actor (user_name) and
-- headers (the idempotency key) in columns of their own. jsonb, so its text form is fixed: keys ordered by length,
-- then bytes; one space after each colon and comma.
create or replace function ledger.event_metadata(p_correlation_id text, p_causation_id text, p_user_name text, p_headers jsonb)
returns jsonb language sql immutable as $$
    select jsonb_build_object('correlationId', p_correlation_id, 'causationId', p_causation_id,
        'idempotencyKey', p_headers ->> 'idempotencyKey', 'actor', p_user_name)
$$;

-- The text an event's hash covers. Documented in docs/events.md so auditors can recompute it.
create or replace function ledger.event_canonical(
    p_stream_id text, p_version bigint, p_type text, p_occurred_at timestamptz, p_data jsonb, p_metadata jsonb)
returns text language sql immutable as $$
    select p_stream_id || E'\n' || p_version::text || E'\n' || p_type || E'\n'
        || to_char(p_occurred_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') || E'\n'
        || p_data::text || E'\n' || p_metadata::text
$$;

-- Chains each new event to its stream's previous one. Marten's append holds the stream's row (or its unique
-- (stream_id, version) index entry) until commit, so the previous event is always committed and visible here.
-- One statement (the look-up inside the insert): each statement a trigger runs costs as much as its work here.
create or replace function ledger.chain_event() returns trigger language plpgsql as $$
declare
    v_prev bytea;
begin
    insert into ledger.event_chain (seq_id, previous_hash, hash)
    select new.seq_id, p.hash, sha256(coalesce(p.hash, ''::bytea) || convert_to(
        ledger.event_canonical(new.stream_id, new.version, new.type, new.timestamp, new.data,
            ledger.event_metadata(new.correlation_id, new.causation_id, new.user_name, new.headers)), 'UTF8'))
    -- The previous event by Marten's unique (stream_id, version) index, then its chain row by seq_id.
    from (select case when new.version > 1 then (
            select c.hash from ledger.mt_events e join ledger.event_chain c on c.seq_id = e.seq_id
            where e.stream_id = new.stream_id and e.version = new.version - 1) end as hash) p
    returning previous_hash into v_prev;
    if new.version > 1 and v_prev is null then
        raise exception 'stream % has no event % to chain event % to', new.stream_id, new.version - 1, new.version
            using errcode = 'LDG03';
    end if;
    return null;
end
$$;

drop trigger if exists mt_events_chain on ledger.mt_events;
-- Marten's tombstones (placeholders, in the stream mt_tombstone, for sequence numbers a failed append used) are
-- bookkeeping, not events: they are not chained, so they are not in the log.
create trigger mt_events_chain after insert on ledger.mt_events
    for each row when (new.stream_id <> 'mt_tombstone') execute function ledger.chain_event();

-- Events are facts. Changing one is refused here; audit verify detects it if someone forces it anyway.
create or replace function ledger.events_are_immutable() returns trigger language plpgsql as $$
begin
    raise exception 'events are immutable: % refused on %', tg_op, tg_table_name using errcode = 'LDG02';
end
$$;

drop trigger if exists events_are_immutable on ledger.mt_events;
create trigger events_are_immutable before update or delete on ledger.mt_events
    for each row execute function ledger.events_are_immutable();
drop trigger if exists events_no_truncate on ledger.mt_events;
create trigger events_no_truncate before truncate on ledger.mt_events
    for each statement execute function ledger.events_are_immutable();
drop trigger if exists chain_is_immutable on ledger.event_chain;
create trigger chain_is_immutable before update or delete on ledger.event_chain
    for each row execute function ledger.events_are_immutable();
drop trigger if exists chain_no_truncate on ledger.event_chain;
create trigger chain_no_truncate before truncate on ledger.event_chain
    for each statement execute function ledger.events_are_immutable();

-- The log as auditors and operators read it in SQL: one row per event, chained, metadata as one object. Ledger's
-- own readers use it too. Marten's bookkeeping (tombstones) has no chain row and so is not in it.
create or replace view ledger.events as
select c.seq_id as sequence, e.stream_id, e.version, e.type, e.data,
       ledger.event_metadata(e.correlation_id, e.causation_id, e.user_name, e.headers) as metadata,
       e.timestamp as occurred_at, c.transaction_id, c.previous_hash, c.hash
from ledger.mt_events e join ledger.event_chain c on c.seq_id = e.seq_id;

create or replace view ledger.streams as
select id as stream_id, type as stream_type, version, created as created_at, timestamp as updated_at
from ledger.mt_streams where id <> 'mt_tombstone';
