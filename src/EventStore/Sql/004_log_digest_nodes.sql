-- The digest's perfect subtrees above the leaves (level 1: two leaves, level 2: four, ...), each stored once when
-- its last leaf is digested. An inclusion proof is O(log n) of these (and of the leaves in log_digest): read in one
-- query, never a fold over the log. Like the rest of the digest, nothing here is trusted by `audit verify`.
create table if not exists ledger.log_digest_nodes (
    level  smallint not null,
    index  bigint not null,
    hash   bytea not null,
    primary key (level, index)
);
