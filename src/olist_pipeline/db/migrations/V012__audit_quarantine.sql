-- Source records that do not fit their file's contract. Every record of a
-- batch lands either in raw.<table> or here, never both and never neither:
-- audit.batches.source_rows = loaded_rows + quarantined_rows.
--
-- reason is the reader's code (olist_pipeline.data.reader): field_count,
-- undecodable, unterminated_quote, bad_quote, nul_byte. raw_text is the
-- record as in the file without its line terminator; bytes that are not
-- UTF-8 appear backslash-escaped (\xff) and NUL characters, which text cannot
-- hold, as the four characters \x00.
CREATE TABLE IF NOT EXISTS audit.quarantine (
    table_name      text        NOT NULL,
    batch_id        text        NOT NULL,
    source_file     text        NOT NULL,
    row_number      bigint      NOT NULL,  -- source record number (header excluded)
    line_number     bigint      NOT NULL,  -- physical line where the record starts
    reason          text        NOT NULL,
    message         text        NOT NULL,
    raw_text        text        NOT NULL,
    run_id          text        NOT NULL,
    quarantined_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (table_name, batch_id, row_number)
);

CREATE INDEX IF NOT EXISTS quarantine_reason_idx ON audit.quarantine (table_name, reason);

GRANT SELECT, INSERT, UPDATE, DELETE ON audit.quarantine TO olist_loader;
GRANT SELECT ON audit.quarantine TO olist_transformer, olist_reader;
