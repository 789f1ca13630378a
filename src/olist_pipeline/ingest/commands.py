"""``olist ingest``: source CSV files -> raw tables (batches, manifest, quarantine)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from olist_pipeline.config import Settings
from olist_pipeline.contracts.sources import TABLES
from olist_pipeline.errors import UsageError

_EPILOG = """\
Each file becomes one batch: a partition of raw.<table> attached in the same
transaction as its COPY, recorded in audit.batches (sha256, size, row counts,
timings, outcome). The batch id is <table>-<first 16 hex of sha256> unless
--batch-id names it. Re-running the same file is a no-op (skipped); a changed
file becomes a new batch; --replace reloads a loaded batch in one transaction.
Malformed records go to audit.quarantine (reason, line, raw text); for every
file source records = loaded rows + quarantined rows.

exit codes:
  0  every file loaded (or was already loaded) and no row is quarantined
  3  finished, but some rows are quarantined (see audit.quarantine)
  1  at least one file failed (empty file, wrong header, database error);
     the other files still load
  2  bad usage, or the only failures were usage problems (missing --source
     folder or source file, unknown table, a --batch-id holding other bytes)
"""


def register(sub: Any) -> None:
    p = sub.add_parser(
        "ingest",
        help="load source CSV files into raw tables (COPY, atomic batches, quarantine)",
        description="Load Olist source CSV files into raw.<table>, one atomic batch per file.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--source",
        type=Path,
        default=None,
        metavar="DIR",
        help="folder holding the Olist CSV files (default: OLIST_DATA_DIR)",
    )
    p.add_argument(
        "--tables",
        default=None,
        metavar="T1,T2",
        help=f"comma-separated raw tables to load (default: all of {','.join(TABLES)})",
    )
    p.add_argument("--batch-id", default=None, metavar="ID", help="name this run's batches")
    p.add_argument(
        "--run-id", default=None, metavar="RID", help="run id (default: OLIST_RUN_ID or new)"
    )
    p.add_argument(
        "--replace",
        action="store_true",
        help="reload batches that already succeeded (clean replace instead of a no-op)",
    )
    p.add_argument(
        "--workers", type=int, default=2, metavar="N", help="files loaded at once (default: 2)"
    )
    p.set_defaults(func=_ingest)


def _ingest(args: argparse.Namespace, settings: Settings) -> int:
    from olist_pipeline.ingest.loader import ingest
    from olist_pipeline.logs import bind_context

    source = args.source or settings.data_dir
    if source is None:
        raise UsageError("no source folder: pass --source DIR or set OLIST_DATA_DIR")
    tables = [t.strip() for t in args.tables.split(",") if t.strip()] if args.tables else None
    if args.workers < 1:
        raise UsageError("--workers must be at least 1")
    if args.run_id:
        bind_context(run_id=args.run_id)
    result = ingest(
        settings,
        Path(source),
        tables,
        batch_id=args.batch_id,
        run_id=args.run_id,
        replace=args.replace,
        workers=args.workers,
    )
    print(
        f"{'table':<21} {'outcome':<8} {'source':>9} {'loaded':>9} {'quarant.':>8} "
        f"{'path':<7} {'seconds':>7}  batch"
    )
    for f in result.files:

        def n(v: int | None) -> str:
            return "-" if v is None else str(v)

        print(
            f"{f.table:<21} {f.status:<8} {n(f.source_rows):>9} {n(f.loaded_rows):>9} "
            f"{n(f.quarantined_rows):>8} {f.load_path or '-':<7} {f.seconds:>7.2f}  "
            f"{f.batch_id or '-'}"
        )
    for f in result.files:
        if f.error:
            print(f"error: {f.table}: {f.error}")
    print(
        f"run {result.run_id}: {len(result.files)} file(s), "
        f"{sum(f.status == 'loaded' for f in result.files)} loaded, "
        f"{sum(f.status == 'skipped' for f in result.files)} skipped, "
        f"{sum(f.status == 'failed' for f in result.files)} failed; "
        f"{result.quarantined_rows} row(s) quarantined; exit {result.exit_code}"
    )
    return result.exit_code
