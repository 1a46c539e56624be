-- When each projection was last rebuilt, how far, and how fast: what `projections list` reports.
create table if not exists projection_rebuilds (
    projection    text primary key,
    rebuilt_at    timestamptz not null,
    through_tx    xid8 not null,          -- every event of a transaction below this was folded in bulk
    events        bigint not null,        -- all events folded: in bulk, and caught up
    caught_up     bigint not null,        -- events appended while it ran, applied before the swap
    seconds       double precision not null
);
