-- Live sales (issue 18): the applied event ids are bounded.
--
-- marts.live_events_applied grew by one row per event for ever. Each id now
-- carries its event time, and every micro-batch of `olist stream live`
-- drops, in its own transaction, the ids older than the horizon it used
-- (the watermark: newest applied event time minus the delay, never moving
-- back; olist_pipeline.stream.live.sink). An event older than the horizon is late
-- and goes to marts.live_late_events, never to a minute, so its id is no
-- longer needed to keep it from counting twice.
--
-- Ids applied before this migration have no event time (NULL) and are kept.
--
-- The stream role keeps INSERT only on the ledger (privileges.py: append-
-- only); the prune goes through one function owned by the transformer that
-- deletes below the ledger's own newest horizon and nothing else.

SET LOCAL ROLE olist_transformer;

ALTER TABLE marts.live_events_applied ADD COLUMN IF NOT EXISTS occurred_at timestamptz;
CREATE INDEX IF NOT EXISTS live_events_applied_occurred_at
    ON marts.live_events_applied (occurred_at);

CREATE OR REPLACE FUNCTION marts.live_prune_applied() RETURNS bigint
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    WITH gone AS (
        DELETE FROM marts.live_events_applied
        WHERE occurred_at < (SELECT max(watermark) FROM marts.live_batches)
        RETURNING 1
    )
    SELECT count(*) FROM gone
$$;

REVOKE ALL ON FUNCTION marts.live_prune_applied() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION marts.live_prune_applied() TO olist_stream;

RESET ROLE;
