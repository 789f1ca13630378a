"""Live minutes summed per day against batch staging's parity measures (dq/parity.py)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import psycopg

from olist_pipeline.config import Role, Settings
from olist_pipeline.db import connect
from olist_pipeline.dq.parity import BATCH_SQL
from olist_pipeline.stream.live.sink import STAGES

Measures = dict[tuple[date, str], Decimal]

LIVE_SQL = (
    "SELECT (minute AT TIME ZONE 'UTC')::date, sum(orders), "
    + ", ".join(f"sum(stage_{s})" for s in STAGES)
    + ", sum(payments), sum(payment_value) FROM marts.live_sales_minute GROUP BY 1"
)


def live_by_day(conn: psycopg.Connection[Any]) -> Measures:
    """The minute rows summed per UTC day, named as parity's measures (zeros left out)."""
    out: Measures = {}
    for row in conn.execute(LIVE_SQL.encode()).fetchall():
        day, total, *rest = row
        stages, (count, value) = rest[: len(STAGES)], rest[len(STAGES) :]
        measures = {"orders:total": total, "payments:count": count, "payments:sum": value}
        measures.update({f"orders:{s}": n for s, n in zip(STAGES, stages, strict=True)})
        out.update({(day, m): Decimal(v) for m, v in measures.items() if v})
    return out


def batch_by_day(conn: psycopg.Connection[Any]) -> Measures:
    return {(d, m): Decimal(v) for d, m, v in conn.execute(BATCH_SQL.encode()).fetchall() if v}


def differences(settings: Settings) -> tuple[int, dict[tuple[date, str], tuple[Any, Any]]]:
    """(days compared, {(day, measure): (batch, live)} where they differ)."""
    with connect(settings, Role.TRANSFORMER, autocommit=True) as conn:
        live, batch = live_by_day(conn), batch_by_day(conn)
    keys = set(live) | set(batch)
    diff = {k: (batch.get(k), live.get(k)) for k in keys if live.get(k) != batch.get(k)}
    return len({d for d, _ in keys}), diff
