-- Business metrics per merchant, currency and day, striped (see Stripes.cs): a read sums the stripes.
create table if not exists metrics_daily (
    merchant_id        text not null,
    currency           text not null,
    day                date not null,
    stripe             smallint not null,
    payments_created   bigint not null default 0,
    payments_succeeded bigint not null default 0,
    payments_failed    bigint not null default 0,
    refunds_count      bigint not null default 0,
    gross_charged      bigint not null default 0,
    refunded           bigint not null default 0,
    primary key (merchant_id, currency, day, stripe)
);

create table if not exists metrics_failures (
    merchant_id text not null,
    currency    text not null,
    day         date not null,
    code        text not null,
    stripe      smallint not null,
    count       bigint not null default 0,
    primary key (merchant_id, currency, day, code, stripe)
);

-- The last stream version counted per payment. Counters only move when this row advances by exactly one,
-- so an event applied twice is counted once.
create table if not exists metrics_positions (
    payment_id text primary key,
    version    bigint not null
);
