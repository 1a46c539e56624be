-- The chain's hashing moves to the host (decision 0009, "the chain's cost"). Printing each event's jsonb and its
-- metadata as text, formatting its time and hashing all of it here cost about a quarter of the database's work per
-- charge. Now the host sends each event's content hash (SHA-256 of its canonical text, docs/events.md) in the header
-- ledgerContentHash, and the trigger only links it: hash = sha256(previous_hash || content_hash). The header is
-- removed before the row is stored: the content hash is recomputed from the stored event, never read back.
--
-- A BEFORE trigger, so it can strip the header; it still chains every path that writes Marten events (Marten's
-- append, a COPY into mt_events), and it refuses an event without a content hash (SQLSTATE LDG04) or whose
-- predecessor is unchained (LDG03). The chain row is written by the statement that inserts the event: if that insert
-- fails (two writers at one version), both go.
create or replace function ledger.chain_event() returns trigger language plpgsql as $$
declare
    v_content bytea;
    v_prev    bytea;
begin
    if coalesce(new.headers ->> 'ledgerContentHash', '') !~ '^[0-9a-f]{64}$' then
        raise exception 'event % of stream % carries no content hash (header ledgerContentHash)', new.version, new.stream_id
            using errcode = 'LDG04';
    end if;
    v_content := decode(new.headers ->> 'ledgerContentHash', 'hex');
    new.headers := new.headers - 'ledgerContentHash';
    -- One statement: the predecessor by Marten's unique (stream_id, version) index, then its chain row by seq_id.
    insert into ledger.event_chain (seq_id, previous_hash, hash)
    select new.seq_id, p.hash, sha256(coalesce(p.hash, ''::bytea) || v_content)
    from (select case when new.version > 1 then (
            select c.hash from ledger.mt_events e join ledger.event_chain c on c.seq_id = e.seq_id
            where e.stream_id = new.stream_id and e.version = new.version - 1) end as hash) p
    returning previous_hash into v_prev;
    if new.version > 1 and v_prev is null then
        raise exception 'stream % has no event % to chain event % to', new.stream_id, new.version - 1, new.version
            using errcode = 'LDG03';
    end if;
    return new;
end
$$;

drop trigger if exists mt_events_chain on ledger.mt_events;
-- Marten's tombstones (placeholders, in the stream mt_tombstone, for sequence numbers a failed append used) are
-- bookkeeping, not events: they are not chained, so they are not in the log.
create trigger mt_events_chain before insert on ledger.mt_events
    for each row when (new.stream_id <> 'mt_tombstone') execute function ledger.chain_event();

-- The canonical text is no longer made in SQL (its JSON is not jsonb's print: docs/events.md).
drop function if exists ledger.event_canonical(text, bigint, text, timestamptz, jsonb, jsonb);
