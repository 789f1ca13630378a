-- Numbered after V060: it grants the quality role V060 creates.
-- Incremental transforms: what each layer has already processed, and what it
-- still owes the layer above. Both are written in the transaction that
-- publishes the layer, so they can never disagree with the published rows.
--
-- layer_batches: the raw batches a layer has taken in (staging: the batches
--   it staged; warehouse and marts: the staged batches they have built on).
--   A batch not listed for a layer is pending for it.
-- layer_dirty: natural keys a layer changed that the layer above must
--   rebuild (layer = the consumer): orders, customers, sellers, products for
--   the warehouse; days, sellers and states for the marts; kind 'all' asks for
--   a full rebuild (geolocation or the category translation changed).
-- layer_totals: cumulative numbers of a layer's increments (raw rows seen,
--   duplicates removed, money kept and dropped, ...), so the quality gates can
--   reconcile the whole history without a full pass.

CREATE TABLE IF NOT EXISTS audit.layer_batches (
    layer        text        NOT NULL CHECK (layer IN ('staging', 'warehouse', 'marts')),
    table_name   text        NOT NULL,
    batch_id     text        NOT NULL,
    run_id       text        NOT NULL,
    processed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (layer, table_name, batch_id)
);

CREATE TABLE IF NOT EXISTS audit.layer_dirty (
    layer  text NOT NULL CHECK (layer IN ('warehouse', 'marts')),
    kind   text NOT NULL,
    key    text NOT NULL,
    run_id text NOT NULL,
    PRIMARY KEY (layer, kind, key)
);

CREATE TABLE IF NOT EXISTS audit.layer_totals (
    layer      text           NOT NULL CHECK (layer IN ('staging', 'warehouse', 'marts')),
    table_name text           NOT NULL,
    metric     text           NOT NULL,
    value      numeric(20, 2) NOT NULL,
    run_id     text           NOT NULL,
    PRIMARY KEY (layer, table_name, metric)
);

-- The transformer decides what is pending from the manifest.
GRANT SELECT ON audit.batches TO olist_transformer;
-- A full refresh replaces a layer's bookkeeping, an increment adds to it.
GRANT SELECT, INSERT, DELETE ON audit.layer_batches, audit.layer_dirty TO olist_transformer;
GRANT SELECT, INSERT, UPDATE, DELETE ON audit.layer_totals TO olist_transformer;
GRANT SELECT ON audit.layer_batches, audit.layer_dirty, audit.layer_totals
    TO olist_reader, olist_quality;
