-- Layers as schemas, and one group role per component (least privilege).
-- Login users are attached to these groups by `olist db migrate` from the
-- settings, so no password ever lives in a migration.

DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'olist_loader') THEN
        CREATE ROLE olist_loader NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'olist_transformer') THEN
        CREATE ROLE olist_transformer NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'olist_stream') THEN
        CREATE ROLE olist_stream NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'olist_reader') THEN
        CREATE ROLE olist_reader NOLOGIN;
    END IF;
END
$$;

-- raw belongs to the loader (it creates per-batch tables); the transformer
-- only reads it.
CREATE SCHEMA IF NOT EXISTS raw AUTHORIZATION olist_loader;
-- The transformer owns what it rebuilds, so it can swap tables atomically.
CREATE SCHEMA IF NOT EXISTS staging AUTHORIZATION olist_transformer;
CREATE SCHEMA IF NOT EXISTS warehouse AUTHORIZATION olist_transformer;
CREATE SCHEMA IF NOT EXISTS marts AUTHORIZATION olist_transformer;
CREATE SCHEMA IF NOT EXISTS audit;

REVOKE ALL ON SCHEMA public FROM PUBLIC;

GRANT USAGE ON SCHEMA raw TO olist_transformer;
ALTER DEFAULT PRIVILEGES FOR ROLE olist_loader IN SCHEMA raw
    GRANT SELECT ON TABLES TO olist_transformer;

GRANT USAGE ON SCHEMA staging TO olist_stream, olist_reader;
GRANT USAGE ON SCHEMA warehouse, marts TO olist_reader;
ALTER DEFAULT PRIVILEGES FOR ROLE olist_transformer IN SCHEMA warehouse
    GRANT SELECT ON TABLES TO olist_reader;
ALTER DEFAULT PRIVILEGES FOR ROLE olist_transformer IN SCHEMA marts
    GRANT SELECT ON TABLES TO olist_reader;
ALTER DEFAULT PRIVILEGES FOR ROLE olist_transformer IN SCHEMA staging
    GRANT SELECT ON TABLES TO olist_reader;

-- audit: every batch component records what it did; the stream role gets
-- table-level grants on its own audit tables only (see its migration).
GRANT USAGE ON SCHEMA audit TO olist_loader, olist_transformer, olist_stream, olist_reader;
ALTER DEFAULT PRIVILEGES IN SCHEMA audit
    GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO olist_loader, olist_transformer;
ALTER DEFAULT PRIVILEGES IN SCHEMA audit
    GRANT SELECT ON TABLES TO olist_reader;
ALTER DEFAULT PRIVILEGES IN SCHEMA audit
    GRANT USAGE, SELECT ON SEQUENCES TO olist_loader, olist_transformer, olist_stream;
