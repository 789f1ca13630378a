"""Load Olist source files into ``raw.<table>``: one atomic, replayable batch per file.

How one file is loaded (one transaction, as the loader role):

1. The header is checked by the reader and the file's sha256 is taken; the
   batch id follows from both (see :mod:`.manifest`). A missing or empty file
   or a wrong header fails the file's batch with the reader's message.
2. An advisory lock on (table, batch) serialises concurrent loads of the same
   batch; a batch that already succeeded with the same bytes is skipped (a
   re-run is a no-op) unless ``replace`` asks for a clean replace.
3. **Fast path** (:mod:`.copy_in`): a fresh table is created and the file's original bytes are
   streamed into ``COPY ... (FORMAT csv, HEADER, FREEZE)``; ``_row_number``
   comes from a column default (a sequence, in file order). The table is new
   in this transaction, so with ``wal_level=minimal`` the COPY writes no WAL,
   and FREEZE spares later readers the hint-bit writes. The constant lineage
   columns are added afterwards as catalogue-only defaults (see
   :func:`_attach`), so they cost nothing per row.
   :class:`~.scan.CsvShapeScanner` checks the same bytes on the way (quote
   shape, NUL, end marker, record count), so PostgreSQL's CSV parser and our
   reader are known to agree on every value.
4. **Per-record path** (:mod:`.copy_in`, only when the server or the scanner rejected the
   file): the savepoint of step 3 is rolled back and the reader parses every
   record; good ones are COPYed (``write_row``, never INSERT) with their
   record number, bad ones go to ``audit.quarantine`` with the reason code,
   the line number and the raw text.
5. Source records = loaded + quarantined is checked, the table is attached
   as partition ``FOR VALUES IN (batch_id)`` of ``raw.<table>`` and the
   manifest row ``succeeded`` written, then the transaction commits: the
   batch appears whole or not at all. A killed load leaves nothing behind.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from olist_pipeline.config import Role, Settings
from olist_pipeline.contracts.sources import TABLES, SourceContract, contract_for
from olist_pipeline.data.reader import iter_parsed
from olist_pipeline.db import connect
from olist_pipeline.db.migrate import GROUP_ROLES
from olist_pipeline.errors import (
    EXIT_FAILURE,
    EXIT_OK,
    EXIT_QUARANTINED,
    EXIT_USAGE,
    OlistError,
    UsageError,
)
from olist_pipeline.ingest import copy_in, manifest
from olist_pipeline.ingest.copy_in import one_line
from olist_pipeline.logs import get_logger, log_context

log = get_logger(__name__)

LOADED, SKIPPED, FAILED = "loaded", "skipped", "failed"


class BatchConflictError(UsageError):
    """A caller-named batch already holds different bytes."""


class ReconciliationError(OlistError):
    """Source records != loaded + quarantined: never committed."""


@dataclass(frozen=True)
class FileOutcome:
    """What happened to one source file in one ingest run."""

    table: str
    source_path: Path
    status: str  # loaded | skipped | failed
    batch_id: str | None = None
    sha256: str | None = None
    size_bytes: int | None = None
    source_rows: int | None = None
    loaded_rows: int | None = None
    quarantined_rows: int | None = None
    load_path: str | None = None  # copy | records
    seconds: float = 0.0
    error: str | None = None
    failure_code: int = EXIT_FAILURE
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def exit_code(self) -> int:
        if self.status == FAILED:
            return self.failure_code
        return EXIT_QUARANTINED if self.quarantined_rows else EXIT_OK


@dataclass(frozen=True)
class IngestResult:
    run_id: str
    files: tuple[FileOutcome, ...]

    @property
    def exit_code(self) -> int:
        """1 if any file failed (2 if every failure was a usage problem such as a
        missing file), else 3 if any batch has quarantined rows, else 0."""
        codes = {f.exit_code for f in self.files}
        for code in (EXIT_FAILURE, EXIT_USAGE, EXIT_QUARANTINED):
            if code in codes:
                return code
        return EXIT_OK

    @property
    def quarantined_rows(self) -> int:
        return sum(f.quarantined_rows or 0 for f in self.files)


def new_run_id() -> str:
    return f"ingest-{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{os.urandom(3).hex()}"


def ingest(
    settings: Settings,
    source: Path,
    tables: Sequence[str] | None = None,
    *,
    batch_id: str | None = None,
    run_id: str | None = None,
    replace: bool = False,
    workers: int = 2,
    fast_path: bool = True,
    data_interval: tuple[datetime, datetime] | None = None,
) -> IngestResult:
    """Load each table's source file from ``source`` into raw; never raises for bad data.

    Args:
        settings: where PostgreSQL is (the loader role's login is used).
        source: folder holding the Olist CSV files under their contract names.
        tables: raw table names to load (default: all nine).
        batch_id: name every batch of this run instead of ``<table>-<sha256[:16]>``.
        run_id: recorded with every manifest and quarantine row.
        replace: reload batches that already succeeded (a clean replace).
        workers: files loaded at the same time (one connection each).
        fast_path: False forces the per-record path (tests, benchmarks).
        data_interval: the [start, end) the files hold (a daily increment),
            recorded in ``audit.batches``.

    Returns:
        One outcome per file, in the order of ``tables``.
    """
    if not source.is_dir():
        raise UsageError(
            f"--source {source} is not a folder; point it (or OLIST_DATA_DIR) at the folder "
            "holding the Olist CSV files, or create one with `olist data generate`"
        )
    names = list(tables) if tables else list(TABLES)
    unknown = [t for t in names if t not in TABLES]
    if unknown:
        raise UsageError(f"unknown table(s) {', '.join(unknown)}; known: {', '.join(TABLES)}")
    if batch_id is not None:
        manifest.check_batch_id(batch_id)
    run = run_id or settings.run_id or new_run_id()
    contracts = [contract_for(t) for t in dict.fromkeys(names)]

    def size(c: SourceContract) -> int:
        try:
            return (source / c.file_name).stat().st_size
        except OSError:
            return 0

    # Largest first, so the long loads overlap with everything else.
    order = sorted(contracts, key=size, reverse=True)
    with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="ingest") as pool:
        futures = {
            c.table: pool.submit(
                load_file,
                settings,
                c,
                source / c.file_name,
                run_id=run,
                batch_id=batch_id,
                replace=replace,
                fast_path=fast_path,
                data_interval=data_interval,
            )
            for c in order
        }
        outcomes = tuple(futures[c.table].result() for c in contracts)
    result = IngestResult(run, outcomes)
    log.info(
        "ingest_finished",
        run_id=run,
        files=len(outcomes),
        loaded=sum(o.status == LOADED for o in outcomes),
        skipped=sum(o.status == SKIPPED for o in outcomes),
        failed=sum(o.status == FAILED for o in outcomes),
        quarantined_rows=result.quarantined_rows,
        exit_code=result.exit_code,
    )
    return result


def load_file(
    settings: Settings,
    contract: SourceContract,
    path: Path,
    *,
    run_id: str,
    batch_id: str | None = None,
    replace: bool = False,
    fast_path: bool = True,
    data_interval: tuple[datetime, datetime] | None = None,
) -> FileOutcome:
    """Load one file as one batch; bad input becomes a failed outcome, never an exception."""
    with log_context(run_id=run_id, table=contract.table, source_file=contract.file_name):
        started = datetime.now(UTC)
        t0 = time.monotonic()
        sha: str | None = None
        size: int | None = None
        bid = batch_id
        try:
            if path.is_file():
                sha, size = manifest.file_sha256(path)
                bid = batch_id or manifest.default_batch_id(contract.table, sha)
            _check_header(path, contract)
            assert sha is not None and size is not None and bid is not None
            with log_context(batch_id=bid):
                job = _Job(
                    contract, path, bid, sha, size, run_id, replace, fast_path, data_interval
                )
                outcome = _load(settings, job)
        except (OlistError, psycopg.Error, OSError) as exc:
            bid = bid or f"{contract.table}-missing"
            message = one_line(exc)
            code = exc.exit_code if isinstance(exc, OlistError) else EXIT_FAILURE
            seconds = time.monotonic() - t0
            log.error("batch_failed", batch_id=bid, error=message, seconds=round(seconds, 3))
            if not isinstance(exc, BatchConflictError):
                job = _Job(
                    contract, path, bid, sha, size, run_id, replace, fast_path, data_interval
                )
                _record_failure(settings, job, started, message, exc)
            return FileOutcome(
                contract.table,
                path,
                FAILED,
                batch_id=bid,
                sha256=sha,
                size_bytes=size,
                seconds=seconds,
                error=message,
                failure_code=code,
            )
        return outcome


def _check_header(path: Path, contract: SourceContract) -> None:
    """The reader's whole-file checks (missing, empty, header) without reading further."""
    records = iter_parsed(path, contract)
    try:
        next(records, None)
    finally:
        close = getattr(records, "close", None)
        if close is not None:
            close()


@dataclass(frozen=True)
class _Job:
    contract: SourceContract
    path: Path
    batch_id: str
    sha256: str | None
    size: int | None
    run_id: str
    replace: bool
    fast_path: bool
    data_interval: tuple[datetime, datetime] | None = None


def _record_failure(
    settings: Settings, job: _Job, started: datetime, message: str, exc: BaseException
) -> None:
    try:
        with connect(settings, Role.LOADER) as conn:
            kept = not _write_manifest(
                conn,
                job,
                started,
                "failed",
                error=message,
                detail={"error_type": type(exc).__name__},
            )
        if kept:
            log.warning("failure_not_recorded_over_succeeded_batch", batch_id=job.batch_id)
    except psycopg.Error as db_exc:
        log.error("manifest_write_failed", batch_id=job.batch_id, error=one_line(db_exc))


def _load(settings: Settings, job: _Job) -> FileOutcome:
    """Load one file as its batch, in one transaction (the steps of the module docstring)."""
    started = datetime.now(UTC)
    t0 = time.monotonic()
    part = manifest.partition_name(job.contract.table, job.batch_id)
    build = f"{part}_load"
    detail: dict[str, Any] = {}
    # UTF8 whatever PGCLIENTENCODING says: the file's bytes go to COPY untouched.
    with connect(settings, Role.LOADER, client_encoding="UTF8") as conn:
        # Own what we create as the group role, whatever the login is called.
        conn.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(GROUP_ROLES[Role.LOADER])))
        conn.commit()
        with conn.transaction():
            existing = manifest.lock_batch(conn, job.contract.table, job.batch_id)
            done = existing if existing is not None and existing.status == "succeeded" else None
            replacing = done is not None
            if done is not None and not job.replace:
                return _skipped(job, done, t0)
            counts = _fill(conn, job, build, detail)
            t_attach = time.monotonic()
            _attach(conn, job.contract, build, part, batch_id=job.batch_id, drop_old=replacing)
            detail["attach_seconds"] = round(time.monotonic() - t_attach, 3)
            detail["rows_per_second"] = round(counts.source / max(time.monotonic() - t0, 1e-6))
            _write_manifest(
                conn,
                job,
                started,
                "succeeded",
                load_path=counts.load_path,
                partition=part,
                source_rows=counts.source,
                loaded_rows=counts.loaded,
                quarantined_rows=counts.quarantined,
                detail=detail,
            )
            t_commit = time.monotonic()
    detail["commit_seconds"] = round(time.monotonic() - t_commit, 3)
    outcome = FileOutcome(
        job.contract.table,
        job.path,
        LOADED,
        batch_id=job.batch_id,
        sha256=job.sha256,
        size_bytes=job.size,
        source_rows=counts.source,
        loaded_rows=counts.loaded,
        quarantined_rows=counts.quarantined,
        load_path=counts.load_path,
        seconds=time.monotonic() - t0,
        detail=detail,
    )
    _log_loaded(outcome, part, counts, replacing)
    return outcome


@dataclass(frozen=True)
class _Counts:
    source: int
    loaded: int
    quarantined: int
    load_path: str  # "copy" (fast path) or "records"
    reasons: tuple[str, ...] = ()  # quarantine reason codes


def _skipped(job: _Job, existing: manifest.ManifestRow, t0: float) -> FileOutcome:
    """The batch already succeeded: a no-op with the same bytes, a conflict with others."""
    table, batch_id, sha = job.contract.table, job.batch_id, job.sha256
    if existing.sha256 != sha:
        raise BatchConflictError(
            f"batch {batch_id!r} of raw.{table} already holds a different file "
            f"(sha256 {existing.sha256}, this one {sha}); name a new batch with "
            "--batch-id, or pass --replace to replace that batch"
        )
    log.info("batch_skipped", reason="already loaded with the same sha256")
    return FileOutcome(
        table,
        job.path,
        SKIPPED,
        batch_id=batch_id,
        sha256=sha,
        size_bytes=job.size,
        source_rows=existing.source_rows,
        loaded_rows=existing.loaded_rows,
        quarantined_rows=existing.quarantined_rows,
        load_path=existing.load_path,
        seconds=time.monotonic() - t0,
    )


def _fill(conn: psycopg.Connection[Any], job: _Job, build: str, detail: dict[str, Any]) -> _Counts:
    """The build table filled, the batch's quarantine replaced, and the two reconciled."""
    table, batch_id = job.contract.table, job.batch_id
    source_rows, loaded_rows, bad, load_path = copy_in.load_rows(conn, job, build, detail)
    conn.execute(
        "DELETE FROM audit.quarantine WHERE table_name = %s AND batch_id = %s", (table, batch_id)
    )
    quarantined = _quarantine(conn, bad)
    if source_rows != loaded_rows + quarantined:
        raise ReconciliationError(
            f"{job.path}: {source_rows} source records but {loaded_rows} loaded + "
            f"{quarantined} quarantined; nothing was committed (this is a bug)"
        )
    reasons = tuple(sorted({row[5] for row in bad}))
    return _Counts(source_rows, loaded_rows, quarantined, load_path, reasons)


def _write_manifest(
    conn: psycopg.Connection[Any], job: _Job, started: datetime, status: str, **outcome: Any
) -> bool:
    """The batch's manifest row, finished now; ``outcome`` holds what the status adds."""
    return manifest.write_row(
        conn,
        table=job.contract.table,
        batch_id=job.batch_id,
        status=status,
        source_file=job.contract.file_name,
        source_path=job.path,
        sha256=job.sha256,
        size_bytes=job.size,
        run_id=job.run_id,
        started_at=started,
        finished_at=datetime.now(UTC),
        data_interval=job.data_interval,
        **outcome,
    )


def _log_loaded(outcome: FileOutcome, part: str, counts: _Counts, replaced: bool) -> None:
    log.info(
        "batch_loaded",
        partition=f"raw.{part}",
        load_path=counts.load_path,
        source_rows=counts.source,
        loaded_rows=counts.loaded,
        quarantined_rows=counts.quarantined,
        reconciled=True,
        seconds=round(outcome.seconds, 3),
        timings=outcome.detail,
        replaced=replaced,
    )
    if counts.quarantined:
        log.warning(
            "rows_quarantined", quarantined_rows=counts.quarantined, reasons=list(counts.reasons)
        )


_QUARANTINE_COLUMNS = (
    "table_name",
    "batch_id",
    "source_file",
    "row_number",
    "line_number",
    "reason",
    "message",
    "raw_text",
    "run_id",
)


def _quarantine(conn: psycopg.Connection[Any], rows: list[tuple[Any, ...]]) -> int:
    if not rows:
        return 0
    stmt = sql.SQL("COPY audit.quarantine ({}) FROM STDIN").format(
        sql.SQL(", ").join(map(sql.Identifier, _QUARANTINE_COLUMNS))
    )
    with conn.cursor() as cur:
        with cur.copy(stmt) as cp:
            for row in rows:
                cp.write_row(row)
        return cur.rowcount


def _attach(
    conn: psycopg.Connection[Any],
    contract: SourceContract,
    build: str,
    part: str,
    *,
    batch_id: str,
    drop_old: bool,
) -> None:
    """Make the loaded table the batch's partition (the last, short step of the load).

    The constant lineage columns are added now, with constant defaults: that
    only records the value in the catalogue (PostgreSQL's "missing value"),
    so ~60 bytes per row are never written, and rows read back the value as
    if stored. The defaults are then dropped, so nothing can be inserted
    into the partition later without naming its lineage.
    """
    built = sql.Identifier("raw", build)
    conn.execute(
        sql.SQL(
            "ALTER TABLE {t} ALTER COLUMN _row_number DROP DEFAULT,"
            " ADD COLUMN _batch_id text NOT NULL DEFAULT {bid},"
            " ADD COLUMN _source_file text NOT NULL DEFAULT {file},"
            " ADD COLUMN _loaded_at timestamptz NOT NULL DEFAULT now()"
        ).format(t=built, bid=sql.Literal(batch_id), file=sql.Literal(contract.file_name))
    )
    conn.execute(
        sql.SQL(
            "ALTER TABLE {} ALTER COLUMN _batch_id DROP DEFAULT,"
            " ALTER COLUMN _source_file DROP DEFAULT,"
            " ALTER COLUMN _loaded_at DROP DEFAULT"
        ).format(built)
    )
    sequence = sql.Identifier("raw", f"{build}_rows")
    conn.execute(sql.SQL("DROP SEQUENCE IF EXISTS {}").format(sequence))
    if drop_old:
        # Replacing: the old partition goes only now, so readers of raw.<table>
        # wait (if at all) for this short tail of the transaction, not the COPY.
        conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier("raw", part)))
    conn.execute(sql.SQL("ALTER TABLE {} RENAME TO {}").format(built, sql.Identifier(part)))
    # ATTACH checks every row against FOR VALUES IN (one read of the new table).
    conn.execute(
        sql.SQL("ALTER TABLE {} ATTACH PARTITION {} FOR VALUES IN ({})").format(
            sql.Identifier("raw", contract.table),
            sql.Identifier("raw", part),
            sql.Literal(batch_id),
        )
    )
