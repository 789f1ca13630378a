-- The batch manifest: one row per (raw table, batch). A batch is one source
-- file's content loaded into one partition of raw.<table>; its id defaults to
-- "<table>-<first 16 hex of the file's sha256>", so the same bytes always map
-- to the same batch and a changed file to a new one.
--
-- A 'succeeded' row is written in the same transaction that attaches the
-- batch's partition, so the two are visible together or not at all (a killed
-- load leaves neither). 'failed' rows record whole-file problems (missing,
-- empty, header mismatch, database errors) for batches that have no data;
-- a failure never overwrites a succeeded batch.
CREATE TABLE IF NOT EXISTS audit.batches (
    table_name        text        NOT NULL,
    batch_id          text        NOT NULL,
    status            text        NOT NULL CHECK (status IN ('succeeded', 'failed')),
    source_file       text        NOT NULL,  -- file name as in the contract
    source_path       text        NOT NULL,  -- where this load read it from
    sha256            text,                  -- NULL when the file could not be read
    size_bytes        bigint,
    run_id            text        NOT NULL,
    load_path         text        CHECK (load_path IN ('copy', 'records')),
    partition_name    text,                  -- raw.<partition_name>, when succeeded
    source_rows       bigint,                -- records in the file (header excluded)
    loaded_rows       bigint,                -- rows in the batch's raw partition
    quarantined_rows  bigint,                -- rows in audit.quarantine for the batch
    -- source_rows = loaded_rows + quarantined_rows, checked before commit
    reconciled        boolean,
    started_at        timestamptz NOT NULL,
    finished_at       timestamptz NOT NULL,
    duration_ms       integer     NOT NULL,
    error             text,                  -- the one-line message of a failure
    detail            jsonb       NOT NULL DEFAULT '{}'::jsonb,  -- timings, fallback reason
    PRIMARY KEY (table_name, batch_id),
    CHECK (status <> 'succeeded' OR (
        sha256 IS NOT NULL AND partition_name IS NOT NULL AND reconciled
        AND source_rows = loaded_rows + quarantined_rows))
);

CREATE INDEX IF NOT EXISTS batches_run_id_idx ON audit.batches (run_id);
CREATE INDEX IF NOT EXISTS batches_sha256_idx ON audit.batches (table_name, sha256);

GRANT SELECT, INSERT, UPDATE, DELETE ON audit.batches TO olist_loader;
GRANT SELECT ON audit.batches TO olist_transformer, olist_reader;
