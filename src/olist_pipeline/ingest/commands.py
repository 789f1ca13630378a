"""``olist ingest``: source CSV files -> raw tables (batches, manifest, quarantine)."""

from __future__ import annotations

import argparse
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from olist_pipeline.config import Settings
from olist_pipeline.contracts.sources import TABLES
from olist_pipeline.errors import EXIT_NOTHING_TO_DO, UsageError

_EPILOG = """\
Each file becomes one batch: a partition of raw.<table> attached in the same
transaction as its COPY, recorded in audit.batches (sha256, size, row counts,
timings, outcome). The batch id is <table>-<first 16 hex of sha256> unless
--batch-id names it. Re-running the same file is a no-op (skipped); a changed
file becomes a new batch; --replace reloads a loaded batch in one transaction.
Malformed records go to audit.quarantine (reason, line, raw text); for every
file source records = loaded rows + quarantined rows.

A daily increment (--increment DIR, DIR named YYYY-MM-DD, as `olist data
split` writes them) loads as batches named by the day, with the day recorded
as their data interval in audit.batches; a missing DIR is nothing to do.

exit codes:
  0  every file loaded (or was already loaded) and no row is quarantined
  3  finished, but some rows are quarantined (see audit.quarantine)
  1  at least one file failed (empty file, wrong header, database error);
     the other files still load
  2  bad usage, or the only failures were usage problems (missing --source
     folder or source file, unknown table, a --batch-id holding other bytes)
  5  --increment DIR does not exist: no data for that day, nothing loaded
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
        type=_optional_path,
        default=None,
        metavar="DIR",
        help="folder holding the Olist CSV files (default: --increment, else OLIST_DATA_DIR); "
        "an empty value means not given",
    )
    p.add_argument(
        "--increment",
        type=_optional_path,
        default=None,
        metavar="DIR",
        help="a daily increment folder <landing>/YYYY-MM-DD: batches are named by the day "
        "and a missing folder is nothing to do (exit 5); used when --source is not given",
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


def _optional_path(text: str) -> Path | None:
    # Airflow renders an unset DAG param as "": that means "not given", not ".".
    return Path(text) if text.strip() else None


def increment_day(folder: Path) -> tuple[datetime, datetime]:
    """The data interval [day, day + 1) of an increment folder named YYYY-MM-DD (UTC)."""
    try:
        day = date.fromisoformat(folder.name)
    except ValueError:
        raise UsageError(
            f"--increment {folder}: the folder name is not a day (YYYY-MM-DD); point it at "
            "<landing>/<day> as `olist data split` writes them"
        ) from None
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    return start, start + timedelta(days=1)


def _ingest(args: argparse.Namespace, settings: Settings) -> int:
    from olist_pipeline.ingest.loader import ingest
    from olist_pipeline.logs import bind_context

    interval = None
    batch_id = args.batch_id
    source = args.source
    if source is None and args.increment is not None:
        interval = increment_day(args.increment)
        if not args.increment.is_dir():
            print(
                f"no increment for {args.increment.name}: {args.increment} does not exist; "
                "nothing to ingest for this interval (exit 5, the task is skipped)"
            )
            return EXIT_NOTHING_TO_DO
        source = args.increment
        batch_id = batch_id or args.increment.name
    source = source or settings.data_dir
    if source is None:
        raise UsageError(
            "no source folder: pass --source DIR or --increment DIR, or set OLIST_DATA_DIR"
        )
    tables = [t.strip() for t in args.tables.split(",") if t.strip()] if args.tables else None
    if args.workers < 1:
        raise UsageError("--workers must be at least 1")
    if args.run_id:
        bind_context(run_id=args.run_id)
    result = ingest(
        settings,
        Path(source),
        tables,
        batch_id=batch_id,
        run_id=args.run_id,
        replace=args.replace,
        workers=args.workers,
        data_interval=interval,
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
