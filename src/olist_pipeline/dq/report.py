"""Terminal summaries (rich tables) of a DQ layer run and of a parity run."""

from __future__ import annotations

import sys
from typing import Any

from rich.console import Console
from rich.table import Table

from olist_pipeline.dq.gates import LayerReport
from olist_pipeline.dq.model import CheckResult, fmt_number
from olist_pipeline.dq.parity import ParityReport


def _console(file: Any = None) -> Console:
    out = file or sys.stdout
    # Piped output (Airflow task logs, CI) gets a wide table instead of 80 columns.
    width = None if out.isatty() else 160
    return Console(file=out, width=width, highlight=False)


def _order(r: CheckResult) -> tuple[int, str, str]:
    rank = 0 if r.blocking else 1 if not r.passed else 2
    return (rank, r.table, r.name)


def print_layer(report: LayerReport, *, only_failed: bool = False, file: Any = None) -> None:
    console = _console(file)
    table = Table(
        title=f"data quality: layer {report.layer}, run {report.run_id}",
        title_justify="left",
        show_lines=False,
    )
    for col, kw in (
        ("result", {"no_wrap": True}),
        ("severity", {"no_wrap": True}),
        ("table", {"no_wrap": True}),
        ("check", {}),
        ("observed", {"justify": "right"}),
        ("expected", {"justify": "right"}),
        ("detail", {"overflow": "fold", "max_width": 60}),
    ):
        table.add_column(col, **kw)
    for r in sorted(report.results, key=_order):
        if only_failed and r.passed:
            continue
        verdict = (
            "[green]pass[/]" if r.passed else "[red]FAIL[/]" if r.blocking else "[yellow]warn[/]"
        )
        table.add_row(
            verdict,
            r.severity.value,
            r.table,
            r.name,
            fmt_number(r.observed),
            r.check.expected_text,
            (r.detail or "")[:200],
        )
    console.print(table)
    passed = sum(r.passed for r in report.results)
    gate = "[red]gate CLOSED (exit 4)[/]" if report.blocking else "[green]gate open[/]"
    console.print(
        f"{report.layer}: {len(report.results)} checks, {passed} passed, "
        f"{len(report.warnings)} warnings, {len(report.blocking)} errors in "
        f"{report.seconds:.1f}s; {gate}" + ("; metrics pushed" if report.pushed else "")
    )


def print_parity(report: ParityReport, *, file: Any = None, limit: int = 30) -> None:
    console = _console(file)
    failed = [r for r in report.rows if not r.passed]
    if failed:
        table = Table(title=f"parity differences, run {report.run_id}", title_justify="left")
        for col in ("day", "measure", "batch", "stream", "relative diff"):
            table.add_column(col, justify="right" if col != "measure" else "left")
        for r in failed[:limit]:
            table.add_row(
                str(r.day),
                r.measure,
                fmt_number(r.batch),
                fmt_number(r.stream),
                f"{r.relative_diff:.4f}",
            )
        console.print(table)
        if len(failed) > limit:
            console.print(f"... and {len(failed) - limit} more differences (audit.parity_results)")
    color = "green" if report.passed else "red"
    console.print(f"[{color}]{report.message()}[/]")
