"""The migrated schemas on the real PostgreSQL server, and least privilege."""

from __future__ import annotations

import psycopg
import pytest

from olist_pipeline.config import Role, Settings
from olist_pipeline.db import connect
from olist_pipeline.db.migrate import available, migrate, status

pytestmark = pytest.mark.integration

LAYERS = {"raw", "staging", "warehouse", "marts", "audit"}


def test_migrations_create_every_layer(pg_settings: Settings) -> None:
    with connect(pg_settings, Role.ADMIN) as conn:
        schemas = {r[0] for r in conn.execute("SELECT nspname FROM pg_namespace").fetchall()}
    assert schemas >= LAYERS


def test_migrate_is_idempotent(pg_settings: Settings) -> None:
    assert migrate(pg_settings) == []
    assert all(applied for _, _, applied in status(pg_settings))
    assert len(status(pg_settings)) == len(available())


def test_write_and_read_through_the_migrated_schema(pg_settings: Settings) -> None:
    from olist_pipeline.db import audit

    with connect(pg_settings, Role.TRANSFORMER) as conn:
        audit.step_started(conn, "run-1", "transform.staging")
        audit.step_finished(
            conn,
            "run-1",
            "transform.staging",
            "succeeded",
            rows_out=42,
            detail={"note": "it's; DROP TABLE x; --"},
        )
    with connect(pg_settings, Role.READER) as conn:
        row = conn.execute(
            "SELECT status, rows_out, detail->>'note' FROM audit.step_runs"
            " WHERE run_id = 'run-1' AND step = 'transform.staging'"
        ).fetchone()
    assert row == ("succeeded", 42, "it's; DROP TABLE x; --")


def test_each_role_is_confined_to_its_layers(pg_settings: Settings) -> None:
    with connect(pg_settings, Role.TRANSFORMER, autocommit=True) as conn:
        conn.execute("CREATE TABLE warehouse.t_priv (x int)")
        conn.execute("INSERT INTO warehouse.t_priv VALUES (1)")
    # The reader sees the transformer's tables (default privileges) ...
    with connect(pg_settings, Role.READER) as conn:
        assert conn.execute("SELECT x FROM warehouse.t_priv").fetchall() == [(1,)]
    # ... but cannot change them.
    with (
        connect(pg_settings, Role.READER) as conn,
        pytest.raises(psycopg.errors.InsufficientPrivilege),
    ):
        conn.execute("INSERT INTO warehouse.t_priv VALUES (2)")
    # The loader may not write into the warehouse, nor the stream consumer into raw.
    with (
        connect(pg_settings, Role.LOADER) as conn,
        pytest.raises(psycopg.errors.InsufficientPrivilege),
    ):
        conn.execute("CREATE TABLE warehouse.t_loader (x int)")
    with (
        connect(pg_settings, Role.STREAM) as conn,
        pytest.raises(psycopg.errors.InsufficientPrivilege),
    ):
        conn.execute("CREATE TABLE raw.t_stream (x int)")


def test_an_edited_applied_migration_is_refused(pg_settings: Settings) -> None:
    from olist_pipeline.db.migrate import MigrationError

    with connect(pg_settings, Role.ADMIN, autocommit=True) as conn:
        conn.execute("UPDATE audit.schema_migrations SET checksum = 'edited' WHERE version = '001'")
    with pytest.raises(MigrationError, match="was changed after it was applied"):
        migrate(pg_settings)
