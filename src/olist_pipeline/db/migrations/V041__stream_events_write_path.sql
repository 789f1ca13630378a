-- The stream event tables are landing tables: written at up to tens of
-- thousands of rows per second by the consumers, read whole by parity
-- (GROUP BY order_id / day, a sequential scan either way). Each secondary
-- index cost the single sink connection about 10% of its insert time
-- (measured with `make bench BENCH=stream`), and no query used them, so the
-- tables keep only the idempotency key (event_id) the ON CONFLICT clause
-- needs. Ad-hoc lookups by order scan a table of a few hundred thousand rows.

SET LOCAL ROLE olist_transformer;

DROP INDEX IF EXISTS staging.order_events_order_idx;
DROP INDEX IF EXISTS staging.order_events_occurred_idx;
DROP INDEX IF EXISTS staging.payment_events_order_idx;
DROP INDEX IF EXISTS staging.payment_events_occurred_idx;
