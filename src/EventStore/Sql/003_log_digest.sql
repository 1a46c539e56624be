-- The global digest of the log (docs/events.md, "The log's digest and checkpoints"): every chained event, in commit
-- order, as a leaf of an RFC 6962 Merkle tree. Written after the fact by LogDigest (never on the append path, so
-- appends never wait on one another), read by `audit verify --checkpoints` and the inclusion proofs. None of this is
-- trusted by the audit: it recomputes every leaf from the events and checks the roots against checkpoints signed
-- outside the database. Kept here so that a proof or a check needs no fold over the whole log.
create table if not exists ledger.log_digest (
    -- The leaf's index, from 0: the order of the global log (transaction id, then sequence), below the
    -- commit-safe horizon, so a later commit never lands before a digested one.
    position       bigint primary key,
    seq_id         bigint not null unique,
    transaction_id xid8 not null,
    -- SHA-256(0x00 || seq_id as 8 bytes big-endian || the event's chain hash)
    leaf           bytea not null
);

-- Where the digest stands: its size, the last event digested and the tree's right edge (the roots of its perfect
-- subtrees, largest first), so the next run appends without re-reading old leaves. One row; the digest takes it
-- `for update`, so two digesters (the host's agent, `audit checkpoint`) take turns.
create table if not exists ledger.log_digest_head (
    id             int primary key default 1 check (id = 1),
    size           bigint not null,
    last_tx        xid8 not null,
    last_seq       bigint not null,
    frontier       bytea[] not null
);
insert into ledger.log_digest_head (size, last_tx, last_seq, frontier) values (0, '0', 0, '{}') on conflict do nothing;

-- Every checkpoint the host signed, for serving (`GET /v1/audit/checkpoints`). The copy that counts is the file
-- outside the database (Ledger:Audit:CheckpointFile): an auditor checks against that one.
create table if not exists ledger.audit_checkpoints (
    event_count    bigint primary key,
    position       bigint not null,
    root           bytea not null,
    at             timestamptz not null,
    key_id         text not null,
    signature      bytea not null
);
