"""Every SQL panel of the Business dashboard runs against a real migrated warehouse,
as the read-only login Grafana uses: on the empty schema, and filled with rows.

Grafana macros are expanded as Grafana's PostgreSQL datasource does
($__timeFilter(col) -> col BETWEEN ... AND ...; $state -> 'SP','RJ').
"""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from olist_pipeline.config import Role, Settings
from tests.integration.monitoring_support import insert_rows

pytestmark = pytest.mark.integration

DASHBOARD = Path(__file__).resolve().parents[2] / "monitoring" / "dashboards" / "business.json"
FROM, TO = "2016-09-01T00:00:00Z", "2018-11-01T00:00:00Z"


def _expand(query: str, states: list[str]) -> str:
    out = re.sub(r"\$__timeFilter\(([^)]+)\)", rf"\1 BETWEEN '{FROM}' AND '{TO}'", query)
    out = out.replace("$state", ", ".join(f"'{s}'" for s in states))
    assert "$" not in out, f"unexpanded macro in {out}"
    return out


def _queries() -> list[tuple[str, str]]:
    doc = json.loads(DASHBOARD.read_text())
    panels = [q for p in doc["panels"] for q in [p, *(p.get("panels") or [])]]
    found = [(p["title"], t["rawSql"]) for p in panels for t in p.get("targets") or []]
    found += [(f"variable {v['name']}", v["query"]) for v in doc["templating"]["list"]]
    return found


def _run_all(settings: Settings, states: list[str]) -> dict[str, list[tuple[Any, ...]]]:
    results = {}
    with psycopg.connect(settings.postgres.dsn(Role.READER), autocommit=True) as conn:
        conn.execute("SET default_transaction_read_only = on")
        for title, query in _queries():
            results[title] = conn.execute(_expand(query, states)).fetchall()
    return results


def test_every_panel_query_runs_on_the_migrated_empty_warehouse(pg_settings: Settings) -> None:
    results = _run_all(pg_settings, ["SP"])
    assert len(results) >= 15


def _fill(settings: Settings) -> None:
    insert_rows(
        settings,
        "warehouse.dim_customer",
        [
            {"customer_key": 1, "customer_unique_id": "u1", "state": "SP", "is_current": True},
            {"customer_key": 2, "customer_unique_id": "u2", "state": "RJ", "is_current": True},
        ],
    )
    orders = []
    for i, (key, day, on_time) in enumerate(
        [(1, 3, True), (1, 17, False), (2, 20, True), (2, 45, True)], start=1
    ):
        orders.append(
            {
                "order_id": f"o{i}",
                "customer_key": key,
                "purchased_at": datetime(2017, 3, 1) + timedelta(days=day),
                "order_status": "delivered",
                "items": 1,
                "items_value": 100 * i,
                "freight_value": 10,
                "is_delivered": True,
                "is_on_time": on_time,
                "is_late": not on_time,
            }
        )
    insert_rows(settings, "warehouse.fact_orders", orders)
    sales = [
        {
            "sales_month": date(2017, m, 1),
            "customer_state": st,
            "product_category": cat,
            "orders": 2,
            "items": 3,
            "item_revenue": 200,
            "freight_value": 20,
            "gmv": 220,
            "aov": 110,
            "freight_share": 0.09,
            "delivered_orders": 2,
            "on_time_orders": 1,
            "on_time_pct": 0.5,
        }
        for m in (3, 4)
        for st in ("SP", "RJ")
        for cat in ("bed_bath_table", "health_beauty")
    ]
    insert_rows(settings, "marts.sales_monthly", sales)
    insert_rows(
        settings,
        "marts.customer_rfm",
        [
            {
                "customer_unique_id": f"u{i}",
                "customer_state": st,
                "segment": seg,
                "recency_days": 10 * i,
                "frequency": 1 + i % 2,
                "monetary": 50 * i,
            }
            for i, (st, seg) in enumerate(
                [("SP", "Champions"), ("SP", "At Risk"), ("RJ", "Champions"), (None, "Lost")]
            )
        ],
    )
    insert_rows(
        settings,
        "marts.seller_scorecard",
        [
            {
                "seller_id": f"s{i}",
                "seller_state": st,
                "orders": 5 * i,
                "gmv": 1000 * i,
                "on_time_pct": pct,
                "avg_review_score": 4.1,
                "cancellation_rate": 0.0,
                "freight_ratio": 0.1,
            }
            for i, (st, pct) in enumerate([("SP", 0.95), ("MG", 0.7), ("SP", None)], start=1)
        ],
    )
    insert_rows(
        settings,
        "marts.live_sales_minute",
        [
            {"minute": datetime(2017, 3, 4, 10, m, tzinfo=UTC), "orders": 1, "stage_created": 1,
             "payments": 1, "payment_value": 120}
            for m in (1, 2)
        ],
    )  # fmt: skip


def test_every_panel_query_returns_rows_on_a_filled_warehouse(pg_settings: Settings) -> None:
    _fill(pg_settings)
    results = _run_all(pg_settings, ["SP", "RJ"])
    empty = [title for title, rows in results.items() if not rows]
    assert not empty, f"panels without rows: {empty}"
    assert sorted(r[0] for r in results["variable state"]) == ["RJ", "SP"]
    gmv = results["GMV"][0][0]
    assert float(gmv) == 8 * 220
    assert results["Orders"][0][0] == 4
    assert abs(results["On-time delivery"][0][0] - 0.75) < 1e-9
    segments = dict(results["RFM segment sizes"])
    assert segments == {"Champions": 2, "At Risk": 1, "Lost": 1}
    # Filtering by state changes the answer.
    sp = _run_all(pg_settings, ["SP"])
    assert float(sp["GMV"][0][0]) == 4 * 220 and sp["Orders"][0][0] == 2
