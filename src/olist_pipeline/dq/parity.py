"""Batch/stream parity: do the two halves of the platform tell the same story?

Per purchase day, stream staging (``staging.order_events`` /
``staging.payment_events``, written by the consumers) is compared with batch
staging (``staging.orders`` / ``staging.order_payments``):

- ``orders:total``: orders purchased that day;
- ``orders:<stage>``: orders per lifecycle stage. The stream only knows the
  steps that have a timestamp (created, approved, shipped, delivered) plus
  canceled / unavailable, so the batch status is folded into the same
  stages from the same timestamps (``invoiced`` and ``processing`` orders
  are ``approved``; a ``delivered`` order without a delivery date is
  ``shipped``), exactly as the producer derives its events;
- ``payments:count`` and ``payments:sum``: payment rows and their value.

A day fails when any measure differs by more than ``tolerance`` (relative to
the larger side). Compared days: ``since``..``until`` when given, else the
span of days the stream holds, so a day withheld inside it shows up as
missing. Days are UTC calendar days of the purchase time, as the producer
stamps ``occurred_at``.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

import psycopg

from olist_pipeline.config import Role, Settings
from olist_pipeline.db import connect
from olist_pipeline.logs import get_logger
from olist_pipeline.metrics.metrics import metric

log = get_logger(__name__)

PUSH_JOB = "olist_parity"

# Lifecycle stage from batch columns, mirroring olist_pipeline.stream.events.
_BATCH_STAGE = """
CASE
    WHEN o.order_status IN ('canceled', 'unavailable') THEN o.order_status
    WHEN o.order_delivered_customer_date IS NOT NULL THEN 'delivered'
    WHEN o.order_delivered_carrier_date IS NOT NULL THEN 'shipped'
    WHEN o.order_approved_at IS NOT NULL THEN 'approved'
    ELSE 'created'
END"""

BATCH_SQL = f"""
WITH o AS (
    SELECT o.order_id, o.order_purchase_timestamp::date AS day, {_BATCH_STAGE} AS stage
    FROM staging.orders o
    WHERE o.order_purchase_timestamp IS NOT NULL
)
SELECT day, 'orders:total', count(*)::numeric FROM o GROUP BY day
UNION ALL
SELECT day, 'orders:' || stage, count(*)::numeric FROM o GROUP BY day, stage
UNION ALL
SELECT o.day, 'payments:count', count(*)::numeric
FROM staging.order_payments p JOIN o USING (order_id) GROUP BY o.day
UNION ALL
SELECT o.day, 'payments:sum', coalesce(sum(p.payment_value), 0)
FROM staging.order_payments p JOIN o USING (order_id) GROUP BY o.day
"""

# The latest event of an order (highest sequence) carries its current stage;
# its first by sequence (the purchase) dates it. Not min(occurred_at): orders
# with contradictory lifecycle timestamps (a carrier date before the
# purchase, a real Olist quirk) have later-sequence events dated earlier.
STREAM_SQL = """
WITH o AS (
    SELECT order_id,
           ((array_agg(occurred_at ORDER BY sequence, occurred_at))[1] AT TIME ZONE 'UTC')::date
               AS day,
           (array_agg(order_status ORDER BY sequence DESC, occurred_at DESC))[1] AS stage
    FROM staging.order_events GROUP BY order_id
)
SELECT day, 'orders:total', count(*)::numeric FROM o GROUP BY day
UNION ALL
SELECT day, 'orders:' || stage, count(*)::numeric FROM o GROUP BY day, stage
UNION ALL
SELECT (occurred_at AT TIME ZONE 'UTC')::date, 'payments:count', count(*)::numeric
FROM staging.payment_events GROUP BY 1
UNION ALL
SELECT (occurred_at AT TIME ZONE 'UTC')::date, 'payments:sum', sum(payment_value)
FROM staging.payment_events GROUP BY 1
"""


TOTALS = frozenset({"orders:total", "payments:count", "payments:sum"})


@dataclass(frozen=True)
class ParityRow:
    day: date
    measure: str
    batch: Decimal
    stream: Decimal
    tolerance: float

    @property
    def abs_diff(self) -> Decimal:
        return abs(self.batch - self.stream)

    @property
    def relative_diff(self) -> float:
        scale = max(abs(self.batch), abs(self.stream))
        return 0.0 if scale == 0 else float(self.abs_diff / scale)

    @property
    def passed(self) -> bool:
        return self.relative_diff <= self.tolerance


@dataclass(frozen=True)
class ParityReport:
    run_id: str
    tolerance: float
    rows: tuple[ParityRow, ...]
    first_day: date | None
    last_day: date | None
    seconds: float = 0.0
    pushed: bool = False

    @property
    def days(self) -> list[date]:
        return sorted({r.day for r in self.rows})

    @property
    def failed_days(self) -> list[date]:
        return sorted({r.day for r in self.rows if not r.passed})

    @property
    def passed(self) -> bool:
        return bool(self.rows) and not self.failed_days

    @property
    def max_relative_diff(self) -> float:
        return max((r.relative_diff for r in self.rows), default=0.0)

    def message(self, limit: int = 10) -> str:
        if not self.rows:
            return "parity failed: no stream events to compare (is the consumer running?)"
        span = f"{self.first_day}..{self.last_day}"
        if self.passed:
            return (
                f"parity passed: {len(self.days)} days ({span}) agree within tolerance "
                f"{self.tolerance:g}"
            )
        failed = self.failed_days
        parts = []
        for day in failed[:limit]:
            diffs = [
                f"{r.measure} batch {_num(r.batch)} vs stream {_num(r.stream)}"
                for r in self.rows
                if r.day == day and not r.passed
            ]
            parts.append(f"{day} ({'; '.join(diffs)})")
        more = f", and {len(failed) - limit} more" if len(failed) > limit else ""
        return (
            f"parity failed on {len(failed)} of {len(self.days)} days ({span}, tolerance "
            f"{self.tolerance:g}): {', '.join(parts)}{more}"
        )


def _num(value: Decimal) -> str:
    return str(int(value)) if value == value.to_integral_value() else f"{value:.2f}"


def compare(
    batch: Sequence[tuple[date, str, Decimal]],
    stream: Sequence[tuple[date, str, Decimal]],
    tolerance: float,
    *,
    since: date | None = None,
    until: date | None = None,
    totals_only: bool = False,
) -> tuple[list[ParityRow], date | None, date | None]:
    """Match the two sides per (day, measure); a side without a value counts 0.

    ``totals_only`` drops the per-stage counts: while a replay is still running,
    recent orders have not reached their final stage in the stream yet, but
    their creation and payments (stamped at purchase) are already complete.
    """
    if totals_only:
        batch = [x for x in batch if x[1] in TOTALS]
        stream = [x for x in stream if x[1] in TOTALS]
    b = {(d, m): v for d, m, v in batch}
    s = {(d, m): v for d, m, v in stream}
    stream_days = [d for d, _ in s]
    first = since or (min(stream_days) if stream_days else None)
    last = until or (max(stream_days) if stream_days else None)
    if first is None or last is None:
        return [], first, last
    keys = sorted(key for key in set(b) | set(s) if first <= key[0] <= last)
    rows = [
        ParityRow(
            day,
            measure,
            b.get((day, measure), Decimal(0)),
            s.get((day, measure), Decimal(0)),
            tolerance,
        )
        for day, measure in keys
    ]
    return rows, first, last


def _fetch(conn: psycopg.Connection[Any], query: str) -> list[tuple[date, str, Decimal]]:
    return [(r[0], r[1], Decimal(r[2])) for r in conn.execute(query.encode()).fetchall()]


def record(conn: psycopg.Connection[Any], report: ParityReport) -> None:
    with conn.transaction():
        conn.execute("DELETE FROM audit.parity_results WHERE run_id = %s", (report.run_id,))
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO audit.parity_results (run_id, day, measure, batch_value,"
                " stream_value, abs_diff, relative_diff, tolerance, passed)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
                [
                    (
                        report.run_id,
                        r.day,
                        r.measure,
                        r.batch,
                        r.stream,
                        r.abs_diff,
                        r.relative_diff,
                        r.tolerance,
                        r.passed,
                    )
                    for r in report.rows
                ],
            )


def run_parity(
    settings: Settings,
    run_id: str,
    tolerance: float = 0.0,
    *,
    since: date | None = None,
    until: date | None = None,
    totals_only: bool = False,
) -> ParityReport:
    from prometheus_client import CollectorRegistry

    from olist_pipeline.metrics.push import push_if_configured

    t0 = time.monotonic()
    with connect(settings, Role.QUALITY, autocommit=True) as conn:
        batch = _fetch(conn, BATCH_SQL)
        stream = _fetch(conn, STREAM_SQL)
        rows, first, last = compare(
            batch, stream, tolerance, since=since, until=until, totals_only=totals_only
        )
        report = ParityReport(run_id, tolerance, tuple(rows), first, last)
        record(conn, report)
    registry = CollectorRegistry()
    metric("olist_parity_passed", registry).set(1 if report.passed else 0)
    metric("olist_parity_days_failed", registry).set(len(report.failed_days))
    metric("olist_parity_max_relative_diff", registry).set(report.max_relative_diff)
    pushed = push_if_configured(settings, registry, PUSH_JOB, {})
    seconds = time.monotonic() - t0
    (log.info if report.passed else log.error)(
        "parity_run",
        run_id=run_id,
        passed=report.passed,
        days=len(report.days),
        days_failed=len(report.failed_days),
        failed_days=[d.isoformat() for d in report.failed_days],
        max_relative_diff=report.max_relative_diff,
        tolerance=tolerance,
        message=report.message(),
        seconds=round(seconds, 2),
        pushed=pushed,
    )
    return ParityReport(run_id, tolerance, tuple(rows), first, last, seconds, pushed)
