"""The ``olist`` command: one entry point for every pipeline step.

Each feature area contributes its subcommands through a ``register(sub)``
function in its own ``commands`` module (listed in ``COMMAND_MODULES``);
handlers import heavy dependencies (Spark, Airflow) lazily so ``olist
--help`` stays instant. Handlers take ``(args, settings)`` and return an
exit code (see ``olist_pipeline.errors``).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from typing import Protocol

from olist_pipeline import __version__
from olist_pipeline.config import Settings, load_settings
from olist_pipeline.errors import EXIT_FAILURE, EXIT_USAGE, OlistError
from olist_pipeline.logs import bind_context, configure_logging, get_logger

COMMAND_MODULES: tuple[str, ...] = (
    "olist_pipeline.stack.commands",
    "olist_pipeline.db.commands",
    "olist_pipeline.run.commands",
    "olist_pipeline.report.commands",
    "olist_pipeline.ingest.commands",
    "olist_pipeline.transform.commands",
    "olist_pipeline.dq.commands",
    "olist_pipeline.stream.commands",
    "olist_pipeline.metrics.commands",
    "olist_pipeline.data.commands",
    "olist_pipeline.airflow.commands",
)


class Handler(Protocol):
    def __call__(self, args: argparse.Namespace, settings: Settings) -> int: ...


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="olist",
        description="Olist hybrid batch + streaming pipeline (local target: OLIST_ENV=local).",
    )
    parser.add_argument("--version", action="version", version=f"olist-pipeline {__version__}")
    parser.add_argument(
        "--log-format",
        choices=("json", "console"),
        default=None,
        help="log renderer (default: OLIST_LOG_FORMAT or json)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module_name in COMMAND_MODULES:
        importlib.import_module(module_name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(list(argv) if argv is not None else None)
    try:
        settings = load_settings()
        configure_logging(
            settings.log_level,
            args.log_format or settings.log_format,
            settings.log_file,
        )
        if settings.run_id:
            bind_context(run_id=settings.run_id)
        handler: Handler = args.func
        return int(handler(args, settings))
    except OlistError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_USAGE + 128
    except Exception as exc:  # last resort: one line for the user, the trace in the log
        get_logger("olist.cli").exception("unhandled_error")
        print(
            f"error: unexpected {type(exc).__name__}: {exc} (see the log for details)",
            file=sys.stderr,
        )
        return EXIT_FAILURE


if __name__ == "__main__":
    sys.exit(main())
