-- What ties a webhook delivery to the request whose event it carries (docs/decisions/0019): the event's correlation id,
-- sent in every attempt as X-Correlation-Id; and the W3C traceparent of the append that published it, the parent of
-- each attempt's span, so a delivery is part of the request's trace even days later. Null for deliveries made before.
alter table webhook_deliveries add column if not exists correlation_id text;
alter table webhook_deliveries add column if not exists traceparent text;
