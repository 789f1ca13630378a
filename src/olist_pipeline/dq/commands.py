"""``olist dq run --layer L --run-id RID`` and ``olist dq parity --run-id RID``.

Exit codes are the orchestrator's gate: 0 every error-severity check passed
(warnings may have fired), 4 at least one failed (or parity failed), 1 the
checks could not run, 2 bad usage.
"""

from __future__ import annotations

import argparse
import sys
from datetime import date
from typing import Any

from olist_pipeline.config import Settings
from olist_pipeline.dq.model import LAYERS
from olist_pipeline.errors import EXIT_GATE_FAILED, EXIT_OK, UsageError


def register(sub: Any) -> None:
    dq = sub.add_parser("dq", help="data-quality gates (declarative checks per layer)")
    dsub = dq.add_subparsers(dest="dq_command", metavar="ACTION", required=True)
    run = dsub.add_parser(
        "run",
        help="run a layer's checks; exit 4 when an error-severity check fails",
        description="Run every declared check of a layer, record the results in "
        "audit.dq_results, log them, push the metrics (OLIST_PUSHGATEWAY_URL) and print a "
        "summary. Exit 0: gate open (warnings allowed); 4: an error-severity check failed.",
    )
    run.add_argument("--layer", required=True, choices=LAYERS)
    _run_id(run)
    run.add_argument(
        "--show",
        choices=("all", "failed"),
        default="all",
        help="summary rows to print (default: all)",
    )
    run.set_defaults(func=_dq_run)
    dsub.add_parser("list", help="list the declared checks of every layer").set_defaults(
        func=_dq_list
    )

    prun = dsub.add_parser(
        "parity",
        help="compare stream and batch staging per day; exit 4 when they differ",
        description="Compare orders per lifecycle stage and payment counts/sums per purchase "
        "day between staging.order_events/payment_events and staging.orders/order_payments.",
    )
    _run_id(prun)
    prun.add_argument(
        "--tolerance",
        type=float,
        default=0.0,
        help="largest relative difference a day may show and pass (default 0: exact)",
    )
    prun.add_argument("--since", type=date.fromisoformat, help="first day (YYYY-MM-DD)")
    prun.add_argument("--until", type=date.fromisoformat, help="last day (YYYY-MM-DD)")
    prun.add_argument(
        "--totals-only",
        action="store_true",
        help="compare orders and payments per day but not per lifecycle stage "
        "(for a replay still in progress: recent orders have not reached their last stage)",
    )
    prun.set_defaults(func=_parity_run)


def _run_id(p: argparse.ArgumentParser) -> None:
    p.add_argument("--run-id", default=None, help="pipeline run id (default: OLIST_RUN_ID)")


def _need_run_id(args: argparse.Namespace, settings: Settings) -> str:
    run_id = args.run_id or settings.run_id
    if not run_id:
        raise UsageError("--run-id is required (or set OLIST_RUN_ID)")
    return str(run_id)


def _dq_run(args: argparse.Namespace, settings: Settings) -> int:
    from olist_pipeline.dq.gates import run_layer
    from olist_pipeline.dq.report import print_layer
    from olist_pipeline.logs import bind_context

    run_id = _need_run_id(args, settings)
    bind_context(run_id=run_id, step=f"dq.{args.layer}")
    report = run_layer(settings, args.layer, run_id)
    print_layer(report, only_failed=args.show == "failed")
    if report.blocking:
        for r in report.blocking:
            print(f"gate failed: {r.message}", file=sys.stderr)
        return EXIT_GATE_FAILED
    return EXIT_OK


def _dq_list(args: argparse.Namespace, settings: Settings) -> int:
    from olist_pipeline.dq.suites import suite

    for layer in LAYERS:
        for c in suite(layer):
            quirk = " (quirk)" if c.quirk else ""
            print(f"{layer:<9} {c.severity.value:<5} {c.table:<30} {c.name}{quirk}")
    return EXIT_OK


def _parity_run(args: argparse.Namespace, settings: Settings) -> int:
    from olist_pipeline.dq.parity import run_parity
    from olist_pipeline.dq.report import print_parity
    from olist_pipeline.logs import bind_context

    if args.tolerance < 0:
        raise UsageError(f"--tolerance must be >= 0, got {args.tolerance}")
    run_id = _need_run_id(args, settings)
    bind_context(run_id=run_id, step="parity")
    report = run_parity(
        settings,
        run_id,
        args.tolerance,
        since=args.since,
        until=args.until,
        totals_only=args.totals_only,
    )
    print_parity(report)
    if not report.passed:
        print(f"gate failed: {report.message()}", file=sys.stderr)
        return EXIT_GATE_FAILED
    return EXIT_OK
