-- The data interval a batch holds: for a daily increment (`ingest --increment
-- DIR/YYYY-MM-DD`) the day [start, end); NULL for a one-off folder. Versions of
-- a natural key are ordered by the interval they belong to, not by when they
-- happened to be loaded, so a day that arrives late still sorts by its date.
ALTER TABLE audit.batches
    ADD COLUMN IF NOT EXISTS data_interval_start timestamptz,
    ADD COLUMN IF NOT EXISTS data_interval_end   timestamptz;

ALTER TABLE audit.batches DROP CONSTRAINT IF EXISTS batches_data_interval_check;
ALTER TABLE audit.batches ADD CONSTRAINT batches_data_interval_check CHECK (
    (data_interval_start IS NULL) = (data_interval_end IS NULL)
    AND (data_interval_start IS NULL OR data_interval_start < data_interval_end));

CREATE INDEX IF NOT EXISTS batches_data_interval_idx
    ON audit.batches (table_name, data_interval_start);
