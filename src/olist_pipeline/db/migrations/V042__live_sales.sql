-- Live sales (issue 18): what the Structured Streaming job `olist stream
-- live` writes from the order and payment topics, each micro-batch in one
-- transaction together with its batch id (olist_pipeline.stream.live.sink).
--
-- Days and stages follow quality/parity.py: an order counts at the minute
-- of its purchase (its order.created event), in the stage of its latest
-- event by sequence; a payment counts at its occurred_at (the purchase).
-- So a later lifecycle event moves one order between the stage columns of
-- its purchase minute (-1 / +1), and the minute rows summed per day equal
-- parity's measures per day.
--
-- Ownership: marts objects belong to the transformer; the live job runs as
-- the stream role and gets exactly the writes it needs. It reads
-- staging.customers for the per-state split (the events carry only the
-- customer id).

SET LOCAL ROLE olist_transformer;

CREATE TABLE IF NOT EXISTS marts.live_sales_minute (
    minute             timestamptz    PRIMARY KEY,  -- UTC minute of the purchase
    orders             integer        NOT NULL DEFAULT 0,  -- orders purchased in the minute
    stage_created      integer        NOT NULL DEFAULT 0,  -- ... now at this stage
    stage_approved     integer        NOT NULL DEFAULT 0,
    stage_shipped      integer        NOT NULL DEFAULT 0,
    stage_delivered    integer        NOT NULL DEFAULT 0,
    stage_canceled     integer        NOT NULL DEFAULT 0,
    stage_unavailable  integer        NOT NULL DEFAULT 0,
    payments           integer        NOT NULL DEFAULT 0,
    -- Paid GMV: the events carry payment values, not item prices, so this
    -- is what buyers paid (marts.sales_daily.gmv is price + freight).
    payment_value      numeric(14, 2) NOT NULL DEFAULT 0,
    updated_at         timestamptz    NOT NULL DEFAULT now()
);

-- Per customer state ('unknown' while staging.customers lacks the customer).
CREATE TABLE IF NOT EXISTS marts.live_sales_state_minute (
    minute         timestamptz    NOT NULL,
    customer_state text           NOT NULL,
    orders         integer        NOT NULL DEFAULT 0,
    payments       integer        NOT NULL DEFAULT 0,
    payment_value  numeric(14, 2) NOT NULL DEFAULT 0,
    PRIMARY KEY (minute, customer_state)
);

-- Per-order state: the purchase minute (NULL until order.created arrives:
-- Olist has orders whose carrier date precedes the purchase, so a later
-- sequence can come first) and the stage of the highest sequence seen.
CREATE TABLE IF NOT EXISTS marts.live_order_state (
    order_id        text        PRIMARY KEY,
    purchase_minute timestamptz,
    customer_id     text,
    stage           text        NOT NULL,
    stage_sequence  integer     NOT NULL,
    batch_id        bigint      NOT NULL
);

-- Every event id applied once: a producer duplicate, or a replay into a new
-- checkpoint, adds nothing.
CREATE TABLE IF NOT EXISTS marts.live_events_applied (
    event_id uuid PRIMARY KEY
);

-- The batch-id ledger. query_id is the streaming query's id kept in its
-- checkpoint, so a fresh checkpoint starts a fresh ledger; a batch id found
-- here was committed and its replay after a crash is skipped.
CREATE TABLE IF NOT EXISTS marts.live_batches (
    query_id        uuid        NOT NULL,
    batch_id        bigint      NOT NULL,
    events          integer     NOT NULL,  -- valid events applied
    duplicates      integer     NOT NULL,
    late            integer     NOT NULL,
    invalid         integer     NOT NULL,
    max_event_time  timestamptz,           -- of the applied events, NULL when none
    watermark       timestamptz,           -- in force for this batch
    committed_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (query_id, batch_id)
);

-- Events older than the watermark: kept whole, not added to the minutes.
CREATE TABLE IF NOT EXISTS marts.live_late_events (
    event_id     uuid        PRIMARY KEY,
    query_id     uuid        NOT NULL,
    batch_id     bigint      NOT NULL,
    event_type   text        NOT NULL,
    order_id     text        NOT NULL,
    occurred_at  timestamptz NOT NULL,
    watermark    timestamptz NOT NULL,
    event        jsonb       NOT NULL,
    stored_at    timestamptz NOT NULL DEFAULT now()
);

GRANT SELECT, INSERT, UPDATE ON marts.live_sales_minute, marts.live_sales_state_minute,
    marts.live_order_state TO olist_stream;
GRANT SELECT, INSERT ON marts.live_events_applied, marts.live_batches, marts.live_late_events
    TO olist_stream;
GRANT SELECT ON marts.live_sales_minute, marts.live_sales_state_minute, marts.live_batches,
    marts.live_late_events TO olist_reader;
GRANT SELECT ON staging.customers TO olist_stream;

RESET ROLE;

GRANT USAGE ON SCHEMA marts TO olist_stream;
