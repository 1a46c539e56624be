-- Double-entry bookkeeping. Each charge and refund posts balanced entries, per currency.
create table if not exists ledger_entries (
    payment_id text not null,
    version    bigint not null,            -- the event's stream version: replaying it posts nothing twice
    account    text not null,
    currency   text not null,
    debit      bigint not null default 0 check (debit >= 0),
    credit     bigint not null default 0 check (credit >= 0),
    at         timestamptz not null,
    primary key (payment_id, version, account)
);

-- Running balances, striped like the metrics so gateway_clearing is not one row every charge waits on.
create table if not exists ledger_balances (
    account  text not null,
    currency text not null,
    stripe   smallint not null,
    debits   bigint not null default 0,
    credits  bigint not null default 0,
    primary key (account, currency, stripe)
);
