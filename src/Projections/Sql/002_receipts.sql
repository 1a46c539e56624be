-- A receipt per payment, issued when it succeeds; its lines are the charge and every refund.
create table if not exists receipts (
    payment_id     text primary key,
    merchant_id    text not null,
    receipt_number text,
    order_id       text not null,
    currency       text not null,
    card_brand     text not null,
    card_last4     text not null,
    issued_at      timestamptz,            -- null until the payment succeeds: no receipt for a failed one
    total_charged  bigint not null default 0,
    total_refunded bigint not null default 0,
    version        bigint not null         -- stream version folded in; event N applies only onto N-1
);
create unique index if not exists receipts_number on receipts (merchant_id, receipt_number);

create table if not exists receipt_lines (
    payment_id text not null,
    line_no    bigint not null,            -- the event's stream version: replaying an event adds no line
    kind       text not null check (kind in ('charge', 'refund')),
    amount     bigint not null,
    at         timestamptz not null,
    reference  text not null,
    primary key (payment_id, line_no)
);
