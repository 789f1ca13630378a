"""The COPY paths that fill a batch's build table (steps 3 and 4 of :mod:`.loader`).

**Fast path** (:func:`copy_fast`): the file's original bytes stream into
``COPY ... (FORMAT csv, HEADER, FREEZE)`` of a table new in this transaction, so with
``wal_level=minimal`` the COPY writes no WAL; ``_row_number`` comes from a cached
sequence, in file order. :class:`~.scan.CsvShapeScanner` checks the same bytes on
the way, so PostgreSQL's CSV parser and our reader are known to agree on every value.

**Per-record path** (:func:`copy_records`, when the server or the scanner rejected
the file): the reader parses every record; good ones are COPYed with their record
number, bad ones come back as quarantine rows with the reason, line and raw text.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Protocol

import psycopg
from psycopg import sql

from olist_pipeline.contracts.sources import SourceContract
from olist_pipeline.data.reader import iter_parsed
from olist_pipeline.ingest.scan import CsvShapeScanner
from olist_pipeline.logs import get_logger

log = get_logger(__name__)

CHUNK_SIZE = 1 << 20


class NotSimple(Exception):
    """The fast path cannot be trusted for this file; load it record by record."""


class CopyJob(Protocol):
    """What the COPY paths need of a load (``loader._Job``)."""

    @property
    def contract(self) -> SourceContract: ...
    @property
    def path(self) -> Path: ...
    @property
    def batch_id(self) -> str: ...
    @property
    def run_id(self) -> str: ...
    @property
    def fast_path(self) -> bool: ...


def one_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return " ".join(text.split())


def load_rows(
    conn: psycopg.Connection[Any], job: CopyJob, build: str, detail: dict[str, Any]
) -> tuple[int, int, list[tuple[Any, ...]], str]:
    """Fill the build table: fast path first, per-record path if it is rejected.

    Returns (source records, loaded rows, quarantine rows, load path).
    """
    if job.fast_path:
        t_copy = time.monotonic()
        try:
            # A savepoint: a rejected attempt leaves neither table nor rows.
            with conn.transaction():
                loaded = copy_fast(conn, job.contract, job.path, build, job.batch_id)
            detail["copy_seconds"] = round(time.monotonic() - t_copy, 3)
            return loaded, loaded, [], "copy"
        except (NotSimple, psycopg.errors.DataError) as exc:
            detail["fast_path_rejected"] = one_line(exc)[:500]
            detail["rejected_after_seconds"] = round(time.monotonic() - t_copy, 3)
            log.info("fast_path_rejected", reason=detail["fast_path_rejected"])
    t_rec = time.monotonic()
    with conn.transaction():
        source_rows, loaded_rows, bad = copy_records(conn, job, build)
    detail["records_seconds"] = round(time.monotonic() - t_rec, 3)
    return source_rows, loaded_rows, bad, "records"


def create_build_table(
    conn: psycopg.Connection[Any], contract: SourceContract, build: str, row_sequence: bool
) -> None:
    """A fresh, unattached table with the source columns and ``_row_number``.

    The other lineage columns are added after the COPY (see ``loader._attach``).
    """
    row_default: sql.Composable = sql.SQL("")
    if row_sequence:
        seq = sql.Identifier("raw", f"{build}_rows")
        # Cached: values come from backend memory, not one sequence update per row.
        conn.execute(sql.SQL("CREATE SEQUENCE {} CACHE 10000").format(seq))
        row_default = sql.SQL(" DEFAULT nextval({})").format(sql.Literal(f"raw.{build}_rows"))
    conn.execute(
        sql.SQL("CREATE TABLE {build} ({cols}, _row_number bigint NOT NULL{row_default})").format(
            build=sql.Identifier("raw", build),
            cols=sql.SQL(", ").join(
                sql.SQL("{} text").format(sql.Identifier(c)) for c in contract.header
            ),
            row_default=row_default,
        )
    )


def copy_fast(
    conn: psycopg.Connection[Any],
    contract: SourceContract,
    path: Path,
    build: str,
    batch_id: str,
) -> int:
    """Stream the original bytes into COPY FORMAT csv; the number of records loaded."""
    create_build_table(conn, contract, build, row_sequence=True)
    scanner = CsvShapeScanner()
    stmt = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT csv, HEADER true, FREEZE true)").format(
        sql.Identifier("raw", build),
        sql.SQL(", ").join(map(sql.Identifier, contract.header)),
    )
    with conn.cursor() as cur, path.open("rb", buffering=0) as f:
        with cur.copy(stmt) as cp:
            while chunk := f.read(CHUNK_SIZE):
                # Sent first: the server parses this chunk while we scan it.
                cp.write(memoryview(chunk))
                if not scanner.feed(chunk):
                    raise NotSimple(scanner.failed)
            verdict = scanner.finish()
            if not verdict.ok:
                raise NotSimple(verdict.reason)
        loaded = cur.rowcount
    if loaded != verdict.records:
        raise NotSimple(f"record count: the scanner saw {verdict.records}, COPY loaded {loaded}")
    return loaded


def copy_records(
    conn: psycopg.Connection[Any], job: CopyJob, build: str
) -> tuple[int, int, list[tuple[Any, ...]]]:
    """Record by record through the reader: (source records, loaded, quarantine rows)."""
    contract, batch_id, run_id = job.contract, job.batch_id, job.run_id
    create_build_table(conn, contract, build, row_sequence=False)
    stmt = sql.SQL("COPY {} ({}, _row_number) FROM STDIN (FREEZE true)").format(
        sql.Identifier("raw", build),
        sql.SQL(", ").join(map(sql.Identifier, contract.header)),
    )
    bad: list[tuple[Any, ...]] = []
    source_rows = 0
    table, file_name = contract.table, contract.file_name
    with conn.cursor() as cur:
        with cur.copy(stmt) as cp:
            write = cp.write_row
            for row_number, line_number, raw, values, error in iter_parsed(job.path, contract):
                source_rows += 1
                if values is not None:
                    write((*values, row_number))
                    continue
                code, _, message = (error or "unknown: no reason given").partition(": ")
                bad.append(
                    (
                        table,
                        batch_id,
                        file_name,
                        row_number,
                        line_number,
                        code,
                        message or code,
                        raw.replace("\x00", "\\x00"),
                        run_id,
                    )
                )
        loaded = cur.rowcount
    return source_rows, loaded, bad
