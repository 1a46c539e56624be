-- Webhooks (docs/decisions/0015): a merchant's endpoints, one delivery per (endpoint, event), and every attempt.
-- Deliveries are written by the fan-out (Webhooks/WebhookFanOut.cs) from the notifications Wolverine's outbox carries
-- out of each append's transaction, and worked off by the dispatcher (Webhooks/WebhookDispatcher.cs) on one host.

create table if not exists webhook_endpoints (
    id                text primary key,                 -- we_...
    merchant_id       text not null,
    url               text not null,
    event_types       text[] not null,                  -- payment.succeeded, payment.failed, payment.refunded
    description       text,
    -- The signing secret, sealed with AES-256-GCM under Ledger:Secrets:WebhookKey (the key named by secret_key_id), the
    -- endpoint's id as associated data: the database alone never gives it away, and a sealed secret cannot be moved
    -- to another endpoint.
    secret_key_id     text not null,
    secret_sealed     bytea not null,
    created_at        timestamptz not null,
    deleted_at        timestamptz
);

create index if not exists webhook_endpoints_merchant on webhook_endpoints (merchant_id) where deleted_at is null;
create index if not exists webhook_endpoints_listing on webhook_endpoints (merchant_id, created_at desc, id desc);

create table if not exists webhook_deliveries (
    id                text primary key,                 -- whd_...
    endpoint_id       text not null references webhook_endpoints (id),
    merchant_id       text not null,
    event_id          text not null,                    -- evt_..., the same in every attempt: receivers de-duplicate by it
    event_type        text not null,
    payment_id        text not null,
    version           bigint not null,                  -- the event's version in its payment's stream: delivery order
    body              text not null,                    -- exactly the bytes posted (and signed)
    status            text not null check (status in ('pending', 'delivered', 'dead', 'canceled')),
    attempt_count     int not null default 0,
    next_attempt_at   timestamptz,                      -- set while pending
    retry_until       timestamptz,                      -- set at the first failure of a series (its time + RetryFor); a failure
                                                        -- at or after it dead-letters the delivery
    last_status_code  int,
    last_error        text,
    created_at        timestamptz not null,
    delivered_at      timestamptz,
    unique (endpoint_id, event_id)
);

-- What the dispatcher asks: an endpoint's pending deliveries that are due, oldest first; and whether an earlier event of
-- the same payment is still pending for the same endpoint (then this one waits: deliveries go out in stream order).
create index if not exists webhook_deliveries_due on webhook_deliveries (endpoint_id, next_attempt_at) where status = 'pending';
create index if not exists webhook_deliveries_in_order on webhook_deliveries (endpoint_id, payment_id, version) where status = 'pending';
create index if not exists webhook_deliveries_listing on webhook_deliveries (endpoint_id, created_at desc, id desc);

create table if not exists webhook_attempts (
    delivery_id       text not null references webhook_deliveries (id),
    attempt           int not null,
    at                timestamptz not null,
    status_code       int,                              -- null: no answer (refused, timed out, reset)
    error             text,
    duration_ms       int not null,
    primary key (delivery_id, attempt)
);
