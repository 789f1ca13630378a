-- What each transform run did to each table, one number per row (rows in and
-- out, duplicates removed, rows rejected, values that could not be typed per
-- column, flags raised, money kept and dropped), so quality checks and tests
-- can reconcile layers without parsing logs.
CREATE TABLE IF NOT EXISTS audit.transform_stats (
    run_id     text           NOT NULL,
    layer      text           NOT NULL CHECK (layer IN ('staging', 'warehouse', 'marts')),
    table_name text           NOT NULL,
    metric     text           NOT NULL,
    value      numeric(20, 2) NOT NULL,
    recorded_at timestamptz   NOT NULL DEFAULT now(),
    PRIMARY KEY (run_id, layer, table_name, metric)
);
