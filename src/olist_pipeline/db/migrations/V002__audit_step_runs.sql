-- One row per pipeline step execution, whatever the step (ingest, transform,
-- dq, stream, ...). Keyed by run and step so a retried step updates its row.
CREATE TABLE IF NOT EXISTS audit.step_runs (
    run_id       text        NOT NULL,
    step         text        NOT NULL,
    attempt      integer     NOT NULL DEFAULT 1,
    status       text        NOT NULL CHECK (status IN ('running', 'succeeded', 'failed')),
    started_at   timestamptz NOT NULL DEFAULT now(),
    finished_at  timestamptz,
    rows_in      bigint,
    rows_out     bigint,
    detail       jsonb       NOT NULL DEFAULT '{}'::jsonb,
    PRIMARY KEY (run_id, step)
);
GRANT SELECT, INSERT, UPDATE ON audit.step_runs TO olist_stream;
