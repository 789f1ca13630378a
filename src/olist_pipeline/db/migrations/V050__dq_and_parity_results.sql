-- Data-quality and batch/stream parity results. Created by the migration
-- runner's admin role, so the audit default privileges (V001) apply: the
-- loader and transformer write them, the reader reads them.

-- One row per check per run and layer. A re-run of `olist dq run` with the
-- same run id and layer replaces that layer's rows (idempotent gate).
CREATE TABLE IF NOT EXISTS audit.dq_results (
    run_id      text        NOT NULL,
    layer       text        NOT NULL CHECK (layer IN ('raw', 'staging', 'warehouse', 'marts')),
    table_name  text        NOT NULL,
    check_name  text        NOT NULL,
    severity    text        NOT NULL CHECK (severity IN ('error', 'warn')),
    observed    numeric,
    expected    text        NOT NULL,
    passed      boolean     NOT NULL,
    message     text        NOT NULL,
    checked_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (run_id, layer, table_name, check_name)
);
CREATE INDEX IF NOT EXISTS dq_results_checked_at ON audit.dq_results (checked_at);
CREATE INDEX IF NOT EXISTS dq_results_failed ON audit.dq_results (layer, checked_at)
    WHERE NOT passed;

-- Batch vs stream staging, one row per run, day and compared measure
-- (`orders:<status>` counts, `payments:sum`).
CREATE TABLE IF NOT EXISTS audit.parity_results (
    run_id        text        NOT NULL,
    day           date        NOT NULL,
    measure       text        NOT NULL,
    batch_value   numeric     NOT NULL,
    stream_value  numeric     NOT NULL,
    abs_diff      numeric     NOT NULL,
    relative_diff double precision NOT NULL,
    tolerance     double precision NOT NULL,
    passed        boolean     NOT NULL,
    checked_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (run_id, day, measure)
);
CREATE INDEX IF NOT EXISTS parity_results_failed ON audit.parity_results (run_id)
    WHERE NOT passed;

-- Spelled out as well as inherited from the default privileges, so the
-- grants hold even where this file runs as another owner (the chart's Job).
GRANT SELECT, INSERT, UPDATE, DELETE ON audit.dq_results, audit.parity_results
    TO olist_loader, olist_transformer;
GRANT SELECT ON audit.dq_results, audit.parity_results TO olist_reader;
