-- Least privilege inside audit: each component writes only the audit tables
-- it owns, so no audited step can rewrite another's trail (or move the
-- stream's stored offsets). The full expected matrix is declared in
-- olist_pipeline/db/privileges.py and checked against this server by
-- tests/integration/test_privileges.py.
--
--   batches          loader: SELECT, INSERT, UPDATE (a failed row becomes succeeded; FOR UPDATE lock)
--   quarantine       loader: SELECT, INSERT, DELETE (a re-load replaces its batch's rows)
--   transform_stats  transformer: SELECT, INSERT, DELETE (a re-run replaces its run and layer)
--   dq_results       quality: SELECT, INSERT, DELETE (a re-run replaces its run and layer)
--   parity_results   quality: SELECT, INSERT, DELETE (a re-run replaces its run)
--   stream_offsets   stream: SELECT, INSERT, UPDATE (the upsert moves an offset forward)
--   step_runs        nobody directly: audit.step_started / audit.step_finished
--                    append and close the caller's own step (SECURITY DEFINER)
--   every table      reader: SELECT
-- No UPDATE where rows are only appended or replaced, no TRUNCATE anywhere.

DO $$
BEGIN
    -- Runs the DQ gates and the parity check: reads every layer, writes
    -- only their results (before, they ran as the transformer they judge).
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'olist_quality') THEN
        CREATE ROLE olist_quality NOLOGIN;
    END IF;
    -- Owns the step_runs functions; never a login.
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'olist_audit_writer') THEN
        CREATE ROLE olist_audit_writer NOLOGIN;
    END IF;
END
$$;

-- The quality role reads every layer, now and for tables created later
-- (raw partitions, tables the transform swaps in).
GRANT USAGE ON SCHEMA raw, staging, warehouse, marts, audit TO olist_quality;
GRANT SELECT ON ALL TABLES IN SCHEMA raw, staging, warehouse, marts TO olist_quality;
ALTER DEFAULT PRIVILEGES FOR ROLE olist_loader IN SCHEMA raw
    GRANT SELECT ON TABLES TO olist_quality;
ALTER DEFAULT PRIVILEGES FOR ROLE olist_transformer IN SCHEMA staging, warehouse, marts
    GRANT SELECT ON TABLES TO olist_quality;

-- The stream event tables are append-only logs written by the stream role
-- alone. Owned by the transformer (V040), they could be truncated or
-- rewritten by any batch step; owned by the migration's admin, only the
-- grants below apply to them.
ALTER TABLE staging.order_events OWNER TO CURRENT_USER;
ALTER TABLE staging.payment_events OWNER TO CURRENT_USER;
REVOKE ALL ON staging.order_events, staging.payment_events
    FROM olist_loader, olist_transformer, olist_stream, olist_reader, olist_quality;
GRANT SELECT, INSERT ON staging.order_events, staging.payment_events TO olist_stream;
GRANT SELECT ON staging.order_events, staging.payment_events TO olist_reader, olist_quality;

-- audit: start from nothing on the known tables, then grant the narrow set.
-- Tables are named, not "ALL TABLES IN SCHEMA", so an audit table of
-- another migration keeps its own grants (the matrix test names any table
-- it does not know).
REVOKE ALL ON audit.batches, audit.quarantine, audit.transform_stats, audit.dq_results,
    audit.parity_results, audit.step_runs, audit.stream_offsets, audit.schema_migrations
    FROM olist_loader, olist_transformer, olist_stream, olist_reader, olist_quality;

GRANT SELECT ON audit.batches, audit.quarantine, audit.transform_stats, audit.dq_results,
    audit.parity_results, audit.step_runs, audit.stream_offsets
    TO olist_reader;
GRANT SELECT, INSERT, UPDATE ON audit.batches TO olist_loader;
GRANT SELECT, INSERT, DELETE ON audit.quarantine TO olist_loader;
GRANT SELECT, INSERT, DELETE ON audit.transform_stats TO olist_transformer;
-- The DQ suites reconcile raw with the manifest and the transform's numbers.
GRANT SELECT ON audit.batches, audit.quarantine, audit.transform_stats TO olist_quality;
GRANT SELECT, INSERT, DELETE ON audit.dq_results, audit.parity_results TO olist_quality;
GRANT SELECT, INSERT, UPDATE ON audit.stream_offsets TO olist_stream;

-- Future audit tables get no write grant by default (V001 gave the loader
-- and the transformer everything): each migration grants its owner.
-- Whoever ran V001 set those defaults, so revoke them for every grantor.
DO $$
DECLARE
    grantor text;
BEGIN
    FOR grantor IN
        SELECT pg_get_userbyid(d.defaclrole)
          FROM pg_default_acl d JOIN pg_namespace n ON n.oid = d.defaclnamespace
         WHERE n.nspname = 'audit'
    LOOP
        EXECUTE format(
            'ALTER DEFAULT PRIVILEGES FOR ROLE %I IN SCHEMA audit REVOKE ALL ON TABLES'
            ' FROM olist_loader, olist_transformer, olist_stream', grantor);
        EXECUTE format(
            'ALTER DEFAULT PRIVILEGES FOR ROLE %I IN SCHEMA audit REVOKE ALL ON SEQUENCES'
            ' FROM olist_loader, olist_transformer, olist_stream', grantor);
    END LOOP;
END
$$;

-- step_runs: one row per (run, step), opened and closed by the step itself.
-- The step's first dotted part names the component allowed to record it.
GRANT USAGE ON SCHEMA audit TO olist_audit_writer;
GRANT SELECT, INSERT, UPDATE ON audit.step_runs TO olist_audit_writer;

CREATE OR REPLACE FUNCTION audit.step_owner(p_step text) RETURNS text
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT CASE split_part(p_step, '.', 1)
        WHEN 'ingest' THEN 'olist_loader'
        WHEN 'transform' THEN 'olist_transformer'
        WHEN 'dq' THEN 'olist_quality'
        WHEN 'parity' THEN 'olist_quality'
        WHEN 'stream' THEN 'olist_stream'
    END
$$;

CREATE OR REPLACE FUNCTION audit.step_started(p_run_id text, p_step text) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    owner_role text := audit.step_owner(p_step);
    n integer;
BEGIN
    IF coalesce(p_run_id, '') = '' OR length(p_run_id) > 200 THEN
        RAISE EXCEPTION 'run id must be 1 to 200 characters' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF owner_role IS NULL OR length(p_step) > 200 THEN
        RAISE EXCEPTION 'step % names no component (ingest., transform., dq., parity., stream.)', p_step
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF NOT pg_has_role(session_user, owner_role, 'MEMBER') THEN
        RAISE EXCEPTION '% may not record step % (it belongs to %)', session_user, p_step, owner_role
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    INSERT INTO audit.step_runs AS s (run_id, step, status)
    VALUES (p_run_id, p_step, 'running')
    ON CONFLICT (run_id, step) DO UPDATE
       SET status = 'running', attempt = s.attempt + 1, started_at = now(), finished_at = NULL,
           rows_in = NULL, rows_out = NULL, detail = '{}'::jsonb
    RETURNING attempt INTO n;
    RETURN n;
END
$$;

-- Closes a running step once; false when there is no running row to close
-- (a finished step is never rewritten).
CREATE OR REPLACE FUNCTION audit.step_finished(
    p_run_id text, p_step text, p_status text,
    p_rows_in bigint DEFAULT NULL, p_rows_out bigint DEFAULT NULL,
    p_detail jsonb DEFAULT '{}'::jsonb
) RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    owner_role text := audit.step_owner(p_step);
BEGIN
    IF p_status IS NULL OR p_status NOT IN ('succeeded', 'failed') THEN
        RAISE EXCEPTION 'a step finishes succeeded or failed, not %', p_status
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF owner_role IS NULL THEN
        RAISE EXCEPTION 'step % names no component (ingest., transform., dq., parity., stream.)', p_step
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF NOT pg_has_role(session_user, owner_role, 'MEMBER') THEN
        RAISE EXCEPTION '% may not record step % (it belongs to %)', session_user, p_step, owner_role
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    UPDATE audit.step_runs
       SET status = p_status, finished_at = now(), rows_in = p_rows_in, rows_out = p_rows_out,
           detail = coalesce(p_detail, '{}'::jsonb)
     WHERE run_id = p_run_id AND step = p_step AND status = 'running';
    RETURN FOUND;
END
$$;

ALTER FUNCTION audit.step_owner(text) OWNER TO olist_audit_writer;
ALTER FUNCTION audit.step_started(text, text) OWNER TO olist_audit_writer;
ALTER FUNCTION audit.step_finished(text, text, text, bigint, bigint, jsonb)
    OWNER TO olist_audit_writer;
REVOKE ALL ON FUNCTION audit.step_owner(text), audit.step_started(text, text),
    audit.step_finished(text, text, text, bigint, bigint, jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION audit.step_owner(text), audit.step_started(text, text),
    audit.step_finished(text, text, text, bigint, bigint, jsonb)
    TO olist_loader, olist_transformer, olist_quality, olist_stream;
