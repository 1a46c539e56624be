-- The ceiling: what ONE successful Ledger charge (POST /v1/payments, card 4242..., merchant acme) asks of
-- PostgreSQL, with no HTTP, no .NET and no JSON work in between. Same statements, same transactions, same
-- round trips as the host sends them (captured with log_statement=all from src/Host/Payments/RequestPayment.cs
-- and ChargeCompletion.cs, src/EventStore/EventLog.cs (a Marten session) and the inline projections in
-- src/Projections).
--
-- One pgbench "transaction" is one run of this whole script = one charge = three commits, two of them durable:
--   0. the idempotency key looked up (a replay is answered here)    (one read)
--   1. PaymentRequested + the idempotency claim + its projections   (Marten: BEGIN and one batch, then COMMIT)
--   2. the gateway simulator booking the charge                      (its own commit, not waiting for the flush)
--      nextval for the receipt number                                 (one read; the stream is not read back)
--   3. PaymentCharged + the idempotency answer + its projections    (Marten: BEGIN and one batch, then COMMIT)
-- Marten's SaveChangesAsync opens a transaction (Npgsql sends the BEGIN with the batch that follows), sends its
-- operations as one NpgsqlBatch (events first, then the queued statements) and commits: two round trips.
-- \startpipeline begin; ... \endpipeline then commit; does the same. The hash chain's trigger on mt_events runs
-- inside the append, as it does for the host; the content hash it links (header ledgerContentHash) is the host's work,
-- so here it is any 64 hex digits. Run with -M prepared (the host auto-prepares these statements too).
--
-- A fresh payment id per run: md5 of the client id and a 63-bit random number, 36 characters like the host's
-- 'pay_' + 32 hex digits, so the b-tree inserts are as scattered as with the host's random GUIDs.
\set r random(1, 9000000000000000000)
\set stripe random(0, 63)

-- 0. RequestPayment looks the key up first (Idempotency.LookAsync): a key seen before is answered from here.
select fingerprint, status, response_status, response_body, response_location, locked_until, expires_at, resource_id
from idempotency_keys where merchant_id = 'acme' and endpoint = 'POST /v1/payments' and key = 'pgb-' || :client_id::text || '-' || :r::text;

-- 1. RequestPayment: Marten's append of payment_requested (mt_quick_append_events, expected version 0), then the
--    idempotency claim (a queued statement), payment_views, receipts, metrics.
\startpipeline
begin;
select ledger.mt_quick_append_events(
    'pay_' || md5(:client_id::text || ':' || :r::text), null, '*DEFAULT*', array[gen_random_uuid()], array['payment_requested'],
    array['Ledger.Domain.Payments.PaymentEvent+PaymentRequested, Ledger.Domain'],
    array[format('{"paymentId":"%s","merchantId":"acme","orderId":"order-%s","amount":1250,"currency":"USD","card":{"brand":"visa","last4":"4242","expMonth":12,"expYear":2030,"fingerprint":"fp_76c9ad1ee11da2082fa20990"},"description": null,"metadata":{},"at":"%s"}',
        'pay_' || md5(:client_id::text || ':' || :r::text), :r::text, to_json(now())#>>'{}')::jsonb],
    array[null::bytea], array['request:0HNQ8EJ8G5190:00000001'], array['req_' || md5(:r::text)],
    array[format('{"idempotencyKey": "pgb-%s-%s", "ledgerContentHash": "%s"}', :client_id::text, :r::text,
        md5(:r::text || '-1') || md5(:client_id::text || '-1'))::jsonb], array['merchant' || chr(58) || 'acme'],
    array[now()], 0);
insert into idempotency_keys (merchant_id, endpoint, key, fingerprint, resource_id, status, locked_until, created_at, expires_at)
values ('acme', 'POST /v1/payments', 'pgb-' || :client_id::text || '-' || :r::text,
    decode('406982a24729daa33423c0304d2fe09b3ce574b804722c693fc3a5aaa74d5eb8', 'hex'),
    'pay_' || md5(:client_id::text || ':' || :r::text), 'in_flight', now() + interval '30 seconds', now(), now() + interval '1 day');
insert into payment_views (id, merchant_id, order_id, amount, currency, status, card_brand, card_last4,
    card_exp_month, card_exp_year, card_fingerprint, description, metadata, created_at, updated_at, version)
values ('pay_' || md5(:client_id::text || ':' || :r::text), 'acme', 'order-' || :r::text, 1250, 'USD', 'pending', 'visa', '4242',
    12, 2030, 'fp_76c9ad1ee11da2082fa20990', null, '{}'::jsonb, now(), now(), 1)
on conflict (id) do nothing;
insert into receipts (payment_id, merchant_id, order_id, currency, card_brand, card_last4, version)
values ('pay_' || md5(:client_id::text || ':' || :r::text), 'acme', 'order-' || :r::text, 'USD', 'visa', '4242', 1)
on conflict (payment_id) do nothing;
with applied as (
    insert into metrics_positions (payment_id, version) values ('pay_' || md5(:client_id::text || ':' || :r::text), 1)
    on conflict (payment_id) do update set version = excluded.version
        where metrics_positions.version = excluded.version - 1
    returning 1
), daily as (
    insert into metrics_daily (merchant_id, currency, day, stripe,
        payments_created, payments_succeeded, payments_failed, refunds_count, gross_charged, refunded)
    select 'acme', 'USD', (now() at time zone 'UTC')::date, :stripe::smallint, 1, 0, 0, 0, 0, 0 from applied
    on conflict (merchant_id, currency, day, stripe) do update set
        payments_created = metrics_daily.payments_created + excluded.payments_created,
        payments_succeeded = metrics_daily.payments_succeeded + excluded.payments_succeeded,
        payments_failed = metrics_daily.payments_failed + excluded.payments_failed,
        refunds_count = metrics_daily.refunds_count + excluded.refunds_count,
        gross_charged = metrics_daily.gross_charged + excluded.gross_charged,
        refunded = metrics_daily.refunded + excluded.refunded
    returning 1
)
insert into metrics_failures (merchant_id, currency, day, code, stripe, count)
select 'acme', 'USD', (now() at time zone 'UTC')::date, null::text, :stripe::smallint, 1 from applied where null::text is not null
on conflict (merchant_id, currency, day, code, stripe) do update set count = metrics_failures.count + 1;
\endpipeline
commit;

-- 2. The gateway simulator (src/Host/Gateway/SimulatedGateway.cs): claims the gateway key in its idempotency
--    record and books the charge as a row of its own, on its own connections, which commit with
--    synchronous_commit off (it stands in for another company's system: this commit does not wait for the flush).
--    One pipeline: begin, the setting, the booking, commit; one round trip, like the host's one statement.
\startpipeline
begin;
set local synchronous_commit = off;
with claimed as (
    insert into gateway_simulator_keys (gateway_key) values ('pay_' || md5(:client_id::text || ':' || :r::text))
    on conflict (gateway_key) do nothing
    returning gateway_key
), booked as (
    insert into gateway_simulator_charges (gateway_key, merchant_id, amount, currency, outcome, code, reference)
    select gateway_key, 'acme', 1250, 'USD', 'approved', null, 'ch_' || md5(:r::text || '-ch') from claimed
    returning outcome, code, reference
)
select outcome, code, reference from booked
union all
(select outcome, code, reference from gateway_simulator_charges
  where gateway_key = 'pay_' || md5(:client_id::text || ':' || :r::text) and outcome <> 'transient' order by id limit 1)
limit 1;
commit;
\endpipeline

-- ChargeCompletion: the receipt number. The state is the one step 1 wrote: it is not read back.
select nextval('receipt_numbers') as receipt_number
\gset
-- 3. RecordOutcome: Marten's append of payment_charged (expected version 1), the idempotency answer, payment_views,
--    receipts + line, metrics, books.
\startpipeline
begin;
select ledger.mt_quick_append_events(
    'pay_' || md5(:client_id::text || ':' || :r::text), null, '*DEFAULT*', array[gen_random_uuid()], array['payment_charged'],
    array['Ledger.Domain.Payments.PaymentEvent+PaymentCharged, Ledger.Domain'],
    array[format('{"paymentId":"%s","merchantId":"acme","amount":1250,"currency":"USD","gatewayReference":"ch_%s","receiptNumber":"ACME-%s","at":"%s"}',
        'pay_' || md5(:client_id::text || ':' || :r::text), md5(:r::text || '-ch'), lpad(:receipt_number::text, 8, '0'),
        to_json(now())#>>'{}')::jsonb],
    array[null::bytea], array['request:0HNQ8EJ8G5190:00000001'], array['req_' || md5(:r::text)],
    array[format('{"idempotencyKey": "pgb-%s-%s", "ledgerContentHash": "%s"}', :client_id::text, :r::text,
        md5(:r::text || '-2') || md5(:client_id::text || '-2'))::jsonb], array['merchant' || chr(58) || 'acme'],
    array[now()], 1);
update idempotency_keys set status = 'completed', response_status = 201,
    response_body = format('{"id":"%s","merchantId":"acme","orderId":"order-%s","amount":1250,"currency":"USD","status":"succeeded","amountRefunded":0,"amountRefundable":1250,"failureCode": null,"failureMessage": null,"card":{"brand":"visa","last4":"4242","expMonth":12,"expYear":2030,"fingerprint":"fp_76c9ad1ee11da2082fa20990"},"description": null,"metadata":{},"receiptNumber":"ACME-%s","createdAt":"%s","updatedAt":"%s","version":2}',
        'pay_' || md5(:client_id::text || ':' || :r::text), :r::text, lpad(:receipt_number::text, 8, '0'), now(), now()),
    response_location = '/v1/payments/pay_' || md5(:client_id::text || ':' || :r::text)
where merchant_id = 'acme' and endpoint = 'POST /v1/payments' and key = 'pgb-' || :client_id::text || '-' || :r::text and status = 'in_flight';
update payment_views set status = 'succeeded', gateway_reference = 'ch_' || md5(:r::text || '-ch'),
    receipt_number = 'ACME-' || lpad(:receipt_number::text, 8, '0'), updated_at = now(), version = 2
where id = 'pay_' || md5(:client_id::text || ':' || :r::text) and version = 2 - 1;
update receipts set receipt_number = 'ACME-' || lpad(:receipt_number::text, 8, '0'), issued_at = now(), total_charged = 1250, version = 2
where payment_id = 'pay_' || md5(:client_id::text || ':' || :r::text) and version = 2 - 1;
insert into receipt_lines (payment_id, line_no, kind, amount, at, reference)
values ('pay_' || md5(:client_id::text || ':' || :r::text), 2, 'charge', 1250, now(), 'ch_' || md5(:r::text || '-ch'))
on conflict (payment_id, line_no) do nothing;
with applied as (
    insert into metrics_positions (payment_id, version) values ('pay_' || md5(:client_id::text || ':' || :r::text), 2)
    on conflict (payment_id) do update set version = excluded.version
        where metrics_positions.version = excluded.version - 1
    returning 1
), daily as (
    insert into metrics_daily (merchant_id, currency, day, stripe,
        payments_created, payments_succeeded, payments_failed, refunds_count, gross_charged, refunded)
    select 'acme', 'USD', (now() at time zone 'UTC')::date, :stripe::smallint, 0, 1, 0, 0, 1250, 0 from applied
    on conflict (merchant_id, currency, day, stripe) do update set
        payments_created = metrics_daily.payments_created + excluded.payments_created,
        payments_succeeded = metrics_daily.payments_succeeded + excluded.payments_succeeded,
        payments_failed = metrics_daily.payments_failed + excluded.payments_failed,
        refunds_count = metrics_daily.refunds_count + excluded.refunds_count,
        gross_charged = metrics_daily.gross_charged + excluded.gross_charged,
        refunded = metrics_daily.refunded + excluded.refunded
    returning 1
)
insert into metrics_failures (merchant_id, currency, day, code, stripe, count)
select 'acme', 'USD', (now() at time zone 'UTC')::date, null::text, :stripe::smallint, 1 from applied where null::text is not null
on conflict (merchant_id, currency, day, code, stripe) do update set count = metrics_failures.count + 1;
with posted as (
    insert into ledger_entries (payment_id, version, account, currency, debit, credit, at)
    values ('pay_' || md5(:client_id::text || ':' || :r::text), 2, 'gateway_clearing', 'USD', 1250, 0, now()),
           ('pay_' || md5(:client_id::text || ':' || :r::text), 2, 'merchant' || chr(58) || 'acme' || chr(58) || 'available', 'USD', 0, 1250, now())
    on conflict (payment_id, version, account) do nothing
    returning account, currency, debit, credit
)
insert into ledger_balances (account, currency, stripe, debits, credits)
select account, currency, :stripe::smallint, debit, credit from posted order by account
on conflict (account, currency, stripe) do update set
    debits = ledger_balances.debits + excluded.debits,
    credits = ledger_balances.credits + excluded.credits;
\endpipeline
commit;
