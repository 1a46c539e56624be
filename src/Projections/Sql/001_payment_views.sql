-- One row per payment: what GET /v1/payments/{id} and the listing serve.
create table if not exists payment_views (
    id                text primary key,
    merchant_id       text not null,
    order_id          text not null,
    amount            bigint not null,
    currency          text not null,
    status            text not null,
    amount_refunded   bigint not null default 0,
    failure_code      text,
    failure_message   text,
    card_brand        text not null,
    card_last4        text not null,
    card_exp_month    int not null,
    card_exp_year     int not null,
    card_fingerprint  text not null,
    description       text,
    metadata          jsonb not null,
    gateway_reference text,
    receipt_number    text,
    created_at        timestamptz not null,
    updated_at        timestamptz not null,
    -- The stream version folded in. Each statement applies event N only onto version N-1, so replaying
    -- an event changes nothing and an out-of-order one cannot corrupt the row.
    version           bigint not null
);

-- A merchant's payments, newest first: the listing's keyset order.
create index if not exists payment_views_merchant_created on payment_views (merchant_id, created_at desc, id desc);
-- The sweep looks for payments stuck between request and outcome.
create index if not exists payment_views_pending on payment_views (created_at) where status = 'pending';
