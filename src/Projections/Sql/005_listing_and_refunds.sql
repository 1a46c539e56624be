-- The auditor's listing (all merchants, newest first) and the orderId filter.
create index if not exists payment_views_created on payment_views (created_at desc, id desc);
create index if not exists payment_views_merchant_order on payment_views (merchant_id, order_id);

-- One row per refund: what GET /v1/payments/{id}/refunds serves, oldest first.
create table if not exists refund_views (
    id          text primary key,
    payment_id  text not null,
    merchant_id text not null,
    amount      bigint not null,
    reason      text not null,
    created_at  timestamptz not null,
    version     bigint not null            -- the stream version of its PaymentRefunded event
);
create index if not exists refund_views_payment on refund_views (payment_id, version);
