"""``olist report``: the self-contained HTML report of the marts."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from olist_pipeline.config import Settings
from olist_pipeline.errors import EXIT_OK


def register(sub: Any) -> None:
    report = sub.add_parser("report", help="write the HTML report (charts embedded) from the marts")
    report.add_argument(
        "--out",
        type=Path,
        default=None,
        help="output file (default: .local/reports/report.html)",
    )
    report.add_argument("--run-id", default=None, help="run id shown in the report")
    report.set_defaults(func=_report)


def _report(args: argparse.Namespace, settings: Settings) -> int:
    from olist_pipeline.report.report import build_report

    out = args.out or settings.local.state_dir / "reports" / "report.html"
    charts = build_report(settings, out, args.run_id or settings.run_id)
    empty = [c.key for c in charts if c.empty]
    print(
        f"report written: {out.resolve()} ({len(charts)} charts"
        + (f"; no data for: {', '.join(empty)}" if empty else "")
        + ")"
    )
    return EXIT_OK
