-- Idempotency records. Written in the same transaction as the events they answer for: claimed with the
-- first append, completed with the last, so no record exists without its events or the other way round.
create table if not exists idempotency_keys (
    merchant_id       text not null,
    endpoint          text not null,          -- route template: a key is scoped to (merchant, endpoint)
    key               text not null,
    fingerprint       bytea not null,         -- keyed HMAC of method, path and canonical body (the body holds card data)
    resource_id       text not null,          -- the payment or refund this key created
    status            text not null check (status in ('in_flight', 'completed')),
    response_status   int,
    response_body     text,
    response_location text,
    locked_until      timestamptz not null,   -- the owner's lease; past it, the next retry or the sweep takes over
    created_at        timestamptz not null,
    expires_at        timestamptz not null,
    primary key (merchant_id, endpoint, key)
);

create index if not exists idempotency_keys_expiry on idempotency_keys (expires_at);
