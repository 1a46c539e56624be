-- The simulator's books become a log of every charge it accepts, apart from its idempotency record.
-- v1 kept one row per gateway key (the key was the primary key, inserts said "on conflict do nothing"), so a
-- second acceptance of the same key could never be seen and the tests' "charged twice" checks could not fail.
-- Now the key record answers "have I seen this key?" and every booking is its own row: if the simulator (or the
-- ledger driving it) ever charged a key twice, there would be two approved rows, and the tests count them.
create table if not exists gateway_simulator_keys (
    gateway_key text primary key,
    created_at  timestamptz not null default now()
);

insert into gateway_simulator_keys (gateway_key)
select gateway_key from gateway_simulator_charges
on conflict (gateway_key) do nothing;

alter table gateway_simulator_charges drop constraint if exists gateway_simulator_charges_pkey;
alter table gateway_simulator_charges add column if not exists id bigint generated always as identity primary key;
-- 'transient': an attempt refused with a retryable error (the flaky test card); it books no money and claims no key.
alter table gateway_simulator_charges drop constraint if exists gateway_simulator_charges_outcome_check;
alter table gateway_simulator_charges add constraint gateway_simulator_charges_outcome_check
    check (outcome in ('approved', 'declined', 'abandoned', 'transient'));
create index if not exists gateway_simulator_charges_key on gateway_simulator_charges (gateway_key);
