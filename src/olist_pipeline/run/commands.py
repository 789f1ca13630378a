"""``olist run``: the main job on the local target."""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path
from typing import Any

from olist_pipeline.config import Settings
from olist_pipeline.errors import EXIT_OK


def register(sub: Any) -> None:
    run = sub.add_parser(
        "run",
        help="run the main job end to end on the local target (stack, batch via Airflow, "
        "stream, DQ, parity, report)",
    )
    run.add_argument(
        "--keep",
        action="store_true",
        default=os.environ.get("KEEP", "") not in ("", "0"),
        help="leave the services it started running (also KEEP=1)",
    )
    run.add_argument("--run-id", default=None, help="run id (default: run-<UTC timestamp>)")
    run.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="folder of real Olist CSV files (default: OLIST_DATA_DIR, else generated data)",
    )
    run.add_argument("--scale", type=float, default=None, help="scale of generated data (0.1)")
    run.add_argument("--seed", type=int, default=None, help="seed of generated data (42)")
    run.add_argument("--report", type=Path, default=None, help="where to write the HTML report")
    run.add_argument(
        "--increments",
        type=Path,
        default=None,
        metavar="DIR",
        help="run the daily DAG once per day folder of DIR (`olist data split` output), "
        "oldest first, instead of one full load",
    )
    run.add_argument(
        "--days",
        type=int,
        default=None,
        metavar="N",
        help="with --increments: only the first N days (default: all)",
    )
    run.add_argument(
        "--live",
        action="store_true",
        default=os.environ.get("LIVE", "") not in ("", "0"),
        help="also run the live sales Structured Streaming job and check it against batch "
        "(also LIVE=1)",
    )
    run.set_defaults(func=_run)


def _run(args: argparse.Namespace, settings: Settings) -> int:
    from rich.console import Console

    from olist_pipeline.logs import bind_context, configure_logging
    from olist_pipeline.run.job import (
        DEFAULT_SCALE,
        DEFAULT_SEED,
        RunOptions,
        main_job,
        new_run_id,
    )

    if args.days is not None and args.increments is None:
        from olist_pipeline.errors import UsageError

        raise UsageError("--days needs --increments DIR (the day folders to run)")
    run_id = args.run_id or settings.run_id or new_run_id()
    log_file = settings.log_file or settings.local.logs_dir / f"{run_id}.log"
    # Quiet terminal: the JSON log goes to a file, the terminal shows steps.
    # The steps report failures themselves, so log records stay in the file.
    configure_logging(settings.log_level, "json", log_file, terminal_level="CRITICAL")
    bind_context(run_id=run_id)
    os.environ["OLIST_LOG_FILE"] = str(log_file)
    console = Console(stderr=False)
    console.print(f"olist run [bold]{run_id}[/bold] (log: {log_file})")
    t0 = time.monotonic()
    opts = RunOptions(
        run_id=run_id,
        keep=args.keep,
        data_dir=args.data_dir or settings.data_dir,
        scale=args.scale if args.scale is not None else DEFAULT_SCALE,
        seed=args.seed if args.seed is not None else DEFAULT_SEED,
        report_path=args.report,
        increments=args.increments,
        days=args.days,
        live=args.live,
    )
    main_job(settings, opts, console)
    console.print(f"[green]done[/green] in {time.monotonic() - t0:.1f}s")
    return EXIT_OK
