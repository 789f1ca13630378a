"""Batch identity and the batch manifest (``audit.batches``) and quarantine rows.

A batch is one source file's bytes loaded into one partition of
``raw.<table>``. Its id is deterministic: ``<table>-<first 16 hex digits of
the file's sha256>``, unless the caller names it (``--batch-id``). So the
same file always maps to the same batch (a re-run is a no-op) and a changed
or new file to a new one (an incremental load).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from olist_pipeline.errors import UsageError

_BATCH_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:+-]{0,99}$")


def file_sha256(path: Path) -> tuple[str, int]:
    """The file's sha256 (hex) and size in bytes."""
    with path.open("rb") as f:
        digest = hashlib.file_digest(f, "sha256")
        size = f.tell()
    return digest.hexdigest(), size


def default_batch_id(table: str, sha256: str) -> str:
    return f"{table}-{sha256[:16]}"


def check_batch_id(batch_id: str) -> str:
    """A caller-chosen batch id must be short, printable and path/SQL-neutral."""
    if not _BATCH_ID.match(batch_id):
        raise UsageError(
            f"--batch-id {batch_id!r} is not valid: use 1-100 characters from "
            "A-Z a-z 0-9 . _ : + - starting with a letter or digit"
        )
    return batch_id


def partition_name(table: str, batch_id: str) -> str:
    """The raw partition's table name: stable per batch, safe as an identifier."""
    return f"{table}__b{hashlib.sha256(batch_id.encode()).hexdigest()[:16]}"


@dataclass(frozen=True)
class ManifestRow:
    status: str
    sha256: str | None
    partition_name: str | None
    source_rows: int | None
    loaded_rows: int | None
    quarantined_rows: int | None
    load_path: str | None


def lock_batch(conn: psycopg.Connection[Any], table: str, batch_id: str) -> ManifestRow | None:
    """Serialise loads of one batch (until the transaction ends); its current row."""
    key = f"olist.ingest/{table}/{batch_id}"
    conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (key,))
    found = conn.execute(
        "SELECT status, sha256, partition_name, source_rows, loaded_rows, quarantined_rows,"
        " load_path FROM audit.batches WHERE table_name = %s AND batch_id = %s FOR UPDATE",
        (table, batch_id),
    ).fetchone()
    return ManifestRow(*found) if found else None


_COLUMNS = (
    "table_name",
    "batch_id",
    "status",
    "source_file",
    "source_path",
    "sha256",
    "size_bytes",
    "run_id",
    "load_path",
    "partition_name",
    "source_rows",
    "loaded_rows",
    "quarantined_rows",
    "reconciled",
    "started_at",
    "finished_at",
    "duration_ms",
    "error",
    "detail",
    "data_interval_start",
    "data_interval_end",
)


def write_row(
    conn: psycopg.Connection[Any],
    *,
    table: str,
    batch_id: str,
    status: str,
    source_file: str,
    source_path: Path,
    sha256: str | None,
    size_bytes: int | None,
    run_id: str,
    started_at: datetime,
    finished_at: datetime,
    load_path: str | None = None,
    partition: str | None = None,
    source_rows: int | None = None,
    loaded_rows: int | None = None,
    quarantined_rows: int | None = None,
    error: str | None = None,
    detail: dict[str, Any] | None = None,
    data_interval: tuple[datetime, datetime] | None = None,
) -> bool:
    """Upsert the batch's manifest row. A failure never replaces a succeeded batch.

    Returns False when the row was left alone for that reason.
    """
    reconciled = (
        None
        if source_rows is None or loaded_rows is None or quarantined_rows is None
        else source_rows == loaded_rows + quarantined_rows
    )
    values = (
        table,
        batch_id,
        status,
        source_file,
        str(source_path),
        sha256,
        size_bytes,
        run_id,
        load_path,
        partition,
        source_rows,
        loaded_rows,
        quarantined_rows,
        reconciled,
        started_at,
        finished_at,
        max(int((finished_at - started_at).total_seconds() * 1000), 0),
        error,
        json.dumps(detail or {}),
        *(data_interval or (None, None)),
    )
    query = sql.SQL(
        "INSERT INTO audit.batches ({cols}) VALUES ({vals})"
        " ON CONFLICT (table_name, batch_id) DO UPDATE SET {sets}"
        " WHERE audit.batches.status <> 'succeeded' OR EXCLUDED.status = 'succeeded'"
        " RETURNING 1"
    ).format(
        cols=sql.SQL(", ").join(map(sql.Identifier, _COLUMNS)),
        vals=sql.SQL(", ").join(sql.Placeholder() * len(_COLUMNS)),
        sets=sql.SQL(", ").join(
            sql.SQL("{c} = EXCLUDED.{c}").format(c=sql.Identifier(c)) for c in _COLUMNS[2:]
        ),
    )
    return conn.execute(query, values).fetchone() is not None
