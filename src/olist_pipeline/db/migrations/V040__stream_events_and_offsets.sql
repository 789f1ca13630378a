-- Streaming sink (issue 6): the event tables the consumers write and the
-- Kafka offsets they store in the same transaction (exactly-once).
--
-- Ownership: the event tables live in staging, so the transformer owns
-- them (like every staging object) and the stream role gets exactly what
-- the consumer needs: SELECT (reads for `--until-caught-up` checks and
-- tests) and INSERT (ON CONFLICT DO NOTHING needs no UPDATE). The offsets
-- table is in audit; the stream role may read, insert and update it (the
-- upsert moves an offset forward), and nothing else in audit but
-- audit.step_runs (granted in V002).

SET LOCAL ROLE olist_transformer;

CREATE TABLE IF NOT EXISTS staging.order_events (
    event_id        uuid         PRIMARY KEY,
    event_type      text         NOT NULL,
    schema_version  smallint     NOT NULL,
    order_id        text         NOT NULL,
    sequence        integer      NOT NULL,
    occurred_at     timestamptz  NOT NULL,
    produced_at     timestamptz  NOT NULL,
    order_status    text         NOT NULL,
    customer_id     text         NOT NULL,
    event           jsonb        NOT NULL,  -- the whole validated document, lossless
    kafka_topic     text         NOT NULL,
    kafka_partition integer      NOT NULL,
    kafka_offset    bigint       NOT NULL,
    stored_at       timestamptz  NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS order_events_order_idx ON staging.order_events (order_id, sequence);
CREATE INDEX IF NOT EXISTS order_events_occurred_idx ON staging.order_events (occurred_at);

CREATE TABLE IF NOT EXISTS staging.payment_events (
    event_id             uuid           PRIMARY KEY,
    event_type           text           NOT NULL,
    schema_version       smallint       NOT NULL,
    order_id             text           NOT NULL,
    payment_sequential   integer        NOT NULL,
    occurred_at          timestamptz    NOT NULL,
    produced_at          timestamptz    NOT NULL,
    payment_type         text           NOT NULL,
    payment_installments integer        NOT NULL,
    payment_value        numeric(12, 2) NOT NULL,
    event                jsonb          NOT NULL,
    kafka_topic          text           NOT NULL,
    kafka_partition      integer        NOT NULL,
    kafka_offset         bigint         NOT NULL,
    stored_at            timestamptz    NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS payment_events_order_idx
    ON staging.payment_events (order_id, payment_sequential);
CREATE INDEX IF NOT EXISTS payment_events_occurred_idx ON staging.payment_events (occurred_at);

GRANT SELECT, INSERT ON staging.order_events, staging.payment_events TO olist_stream;
GRANT SELECT ON staging.order_events, staging.payment_events TO olist_reader;

RESET ROLE;

-- Next offset to read per consumer group and partition. The consumer seeks
-- here on assignment; the upsert keeps the greater value so a stale group
-- member finishing an old batch can never move an offset backwards.
CREATE TABLE IF NOT EXISTS audit.stream_offsets (
    consumer_group text        NOT NULL,
    topic          text        NOT NULL,
    partition      integer     NOT NULL CHECK (partition >= 0),
    next_offset    bigint      NOT NULL CHECK (next_offset >= 0),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer_group, topic, partition)
);
GRANT SELECT, INSERT, UPDATE ON audit.stream_offsets TO olist_stream;
