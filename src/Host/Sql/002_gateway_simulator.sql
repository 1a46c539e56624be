-- The built-in gateway simulator's own books, apart from the ledger's: what it charged, by gateway key.
-- A real gateway outlives our process; so does this table, so tests can count charges across a crash.
create table if not exists gateway_simulator_charges (
    gateway_key text primary key,
    merchant_id text,
    amount      bigint,
    currency    text,
    outcome     text not null check (outcome in ('approved', 'declined', 'abandoned')),
    code        text,
    reference   text,
    created_at  timestamptz not null default now()
);
