"""Every real Olist file loads through the fast path, exactly as the reader reads it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from olist_pipeline.config import Role, Settings
from olist_pipeline.contracts.sources import CONTRACTS, contract_for
from olist_pipeline.data.reader import iter_records
from olist_pipeline.ingest.loader import ingest

pytestmark = pytest.mark.integration

# Data rows per file, from shared/realdata/MANIFEST.md.
MANIFEST_ROWS = {
    "sellers": 3095,
    "products": 32951,
    "category_translation": 71,
    "order_payments": 103886,
    "orders": 4071,
    "order_items": 5154,
    "customers": 200,
    "order_reviews": 6123,
    "geolocation": 19015,  # derived/ subset, not the original format
}


@pytest.fixture
def source(realdata: Path, tmp_path: Path) -> Path:
    """The real files under their contract names in one folder (geolocation from derived/)."""
    folder = tmp_path / "real"
    folder.mkdir()
    for c in CONTRACTS:
        found = realdata / c.file_name
        if not found.exists():
            found = realdata / "derived" / c.file_name
        (folder / c.file_name).symlink_to(found)
    return folder


def admin(settings: Settings) -> psycopg.Connection[Any]:
    return psycopg.connect(settings.postgres.dsn(Role.ADMIN), autocommit=True)


def raw_values(conn: psycopg.Connection[Any], table: str, batch_id: str) -> list[tuple[Any, ...]]:
    cols = sql.SQL(", ").join(map(sql.Identifier, contract_for(table).header))
    return conn.execute(
        sql.SQL("SELECT _row_number, {} FROM {} WHERE _batch_id = %s ORDER BY _row_number").format(
            cols, sql.Identifier("raw", table)
        ),
        (batch_id,),
    ).fetchall()


def reader_values(path: Path, table: str) -> list[tuple[Any, ...]]:
    rows = []
    for r in iter_records(path, contract_for(table)):
        assert r.values is not None, r
        rows.append((r.row_number, *r.values))
    return rows


def snapshot(conn: psycopg.Connection[Any]) -> dict[str, Any]:
    """Everything a re-run could change."""
    return {
        "batches": conn.execute("SELECT * FROM audit.batches ORDER BY 1, 2").fetchall(),
        "quarantine": conn.execute("SELECT count(*) FROM audit.quarantine").fetchone(),
        "partitions": conn.execute(
            "SELECT c.relname, p.relname, c.relfilenode FROM pg_inherits i"
            " JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent"
            " ORDER BY 1"
        ).fetchall(),
        "raw_tables": conn.execute(
            "SELECT relname, relkind FROM pg_class WHERE relnamespace = 'raw'::regnamespace"
            " ORDER BY 1"
        ).fetchall(),
        "rows": {
            t: conn.execute(
                sql.SQL("SELECT count(*), max(_loaded_at) FROM {}").format(sql.Identifier("raw", t))
            ).fetchone()
            for t in MANIFEST_ROWS
        },
    }


def test_every_real_file_loads_with_its_manifest_row_count(
    pg_settings: Settings, source: Path
) -> None:
    result = ingest(pg_settings, source, run_id="real-1")
    assert result.exit_code == 0
    by_table = {f.table: f for f in result.files}
    assert set(by_table) == set(MANIFEST_ROWS)
    for table, rows in MANIFEST_ROWS.items():
        f = by_table[table]
        assert (f.status, f.load_path) == ("loaded", "copy"), (table, f.detail)
        assert (f.source_rows, f.loaded_rows, f.quarantined_rows) == (rows, rows, 0), table

    with admin(pg_settings) as conn:
        for table, rows in MANIFEST_ROWS.items():
            batch = by_table[table].batch_id
            assert batch is not None
            manifest = conn.execute(
                "SELECT status, source_rows, loaded_rows, quarantined_rows, reconciled, sha256,"
                " size_bytes, run_id, source_file FROM audit.batches"
                " WHERE table_name = %s AND batch_id = %s",
                (table, batch),
            ).fetchone()
            path = source / contract_for(table).file_name
            assert manifest is not None
            assert manifest[:5] == ("succeeded", rows, rows, 0, True)
            assert manifest[5] is not None and batch == f"{table}-{manifest[5][:16]}"
            assert manifest[6:] == (path.stat().st_size, "real-1", contract_for(table).file_name)
            # source = raw + quarantined, counted in the database itself
            raw_count = conn.execute(
                sql.SQL(
                    "SELECT count(*), count(DISTINCT _row_number), min(_row_number),"
                    " max(_row_number) FROM {} WHERE _batch_id = %s"
                ).format(sql.Identifier("raw", table)),
                (batch,),
            ).fetchone()
            assert raw_count == (rows, rows, 1, rows)
            quarantined = conn.execute(
                "SELECT count(*) FROM audit.quarantine WHERE table_name = %s", (table,)
            ).fetchone()
            assert quarantined == (0,)
            # Values exactly as the reader reads them (NULL vs '', CRLF inside text, BOM).
            assert raw_values(conn, table, batch) == reader_values(path, table), table
            lineage = conn.execute(
                sql.SQL("SELECT DISTINCT _source_file FROM {}").format(sql.Identifier("raw", table))
            ).fetchall()
            assert lineage == [(contract_for(table).file_name,)]


def test_rerunning_changes_nothing_and_replace_reloads_the_same_values(
    pg_settings: Settings, source: Path
) -> None:
    first = ingest(pg_settings, source, run_id="real-1")
    with admin(pg_settings) as conn:
        before = snapshot(conn)
    again = ingest(pg_settings, source, run_id="real-2")
    assert again.exit_code == 0
    assert {f.status for f in again.files} == {"skipped"}
    with admin(pg_settings) as conn:
        assert snapshot(conn) == before

    # The per-record path reads the same values as the fast path (clean replace).
    tables = ["order_reviews", "category_translation", "customers"]
    with admin(pg_settings) as conn:
        fast = {
            t: raw_values(conn, t, next(f.batch_id for f in first.files if f.table == t) or "")
            for t in tables
        }
    replaced = ingest(pg_settings, source, tables, run_id="real-3", replace=True, fast_path=False)
    assert [(f.status, f.load_path, f.quarantined_rows) for f in replaced.files] == [
        ("loaded", "records", 0)
    ] * 3
    with admin(pg_settings) as conn:
        for f in replaced.files:
            assert f.batch_id is not None
            assert raw_values(conn, f.table, f.batch_id) == fast[f.table]
        # one partition per batch, still
        parts = conn.execute(
            "SELECT count(*) FROM pg_inherits WHERE inhparent = 'raw.order_reviews'::regclass"
        ).fetchone()
        assert parts == (1,)


def test_roles_see_what_the_migrations_grant(pg_settings: Settings, source: Path) -> None:
    ingest(pg_settings, source, ["customers"], run_id="grants")
    with psycopg.connect(pg_settings.postgres.dsn(Role.TRANSFORMER)) as conn:
        assert conn.execute("SELECT count(*) FROM raw.customers").fetchone() == (200,)
    with psycopg.connect(pg_settings.postgres.dsn(Role.READER)) as conn:
        assert conn.execute("SELECT count(*) FROM audit.batches").fetchone() == (1,)
        assert conn.execute("SELECT count(*) FROM audit.quarantine").fetchone() == (0,)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("SELECT count(*) FROM raw.customers")
    with psycopg.connect(pg_settings.postgres.dsn(Role.ADMIN)) as conn:
        owners = conn.execute(
            "SELECT DISTINCT relowner::regrole::text FROM pg_class"
            " WHERE relnamespace = 'raw'::regnamespace"
        ).fetchall()
        assert owners == [("olist_loader",)]
