"""Headline business figures read from the marts (as the read-only role).

The run summary and the HTML report both use these, so the numbers a user
sees on the terminal and in the report are the same query.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import psycopg


@dataclass(frozen=True)
class Headline:
    gmv: Decimal
    orders: int
    aov: Decimal
    top_states: list[tuple[str, Decimal]]
    top_categories: list[tuple[str, Decimal]]
    rfm_segments: list[tuple[str, int]]
    best_sellers: list[tuple[str, Decimal, float | None]]
    worst_sellers: list[tuple[str, Decimal, float | None]]


# Orders behind the sales mart: every order with items (the mart counts all
# statuses; see olist_pipeline.transform.marts).
SALES_ORDERS_SQL = "SELECT count(DISTINCT order_id) FROM warehouse.fact_order_items"


def _rows(conn: psycopg.Connection[Any], query: str) -> list[tuple[Any, ...]]:
    return list(conn.execute(query).fetchall())


def headline(conn: psycopg.Connection[Any], top: int = 5) -> Headline:
    row = conn.execute(
        "SELECT coalesce(sum(gmv), 0)::numeric(14,2) FROM marts.sales_monthly"
    ).fetchone()
    gmv = row[0] if row else Decimal(0)
    # The mart counts orders per (month, state, category) cell, so an order
    # spanning two categories counts twice there; the distinct count comes
    # from the same items the mart aggregates.
    n_orders = int((conn.execute(SALES_ORDERS_SQL).fetchone() or (0,))[0])
    aov = (Decimal(gmv) / n_orders).quantize(Decimal("0.01")) if n_orders else Decimal(0)
    return Headline(
        gmv=Decimal(gmv),
        orders=n_orders,
        aov=aov,
        top_states=[
            (r[0], r[1])
            for r in _rows(
                conn,
                "SELECT customer_state, sum(gmv)::numeric(14,2) g FROM marts.sales_monthly"
                f" GROUP BY 1 ORDER BY g DESC, 1 LIMIT {int(top)}",
            )
        ],
        top_categories=[
            (r[0], r[1])
            for r in _rows(
                conn,
                "SELECT product_category, sum(gmv)::numeric(14,2) g FROM marts.sales_monthly"
                f" GROUP BY 1 ORDER BY g DESC, 1 LIMIT {int(top)}",
            )
        ],
        rfm_segments=[
            (r[0], int(r[1]))
            for r in _rows(
                conn,
                "SELECT segment, count(*) n FROM marts.customer_rfm GROUP BY 1 ORDER BY n DESC, 1",
            )
        ],
        best_sellers=[
            (r[0], r[1], r[2])
            for r in _rows(
                conn,
                "SELECT seller_id, gmv, avg_review_score FROM marts.seller_scorecard"
                f" ORDER BY gmv DESC, seller_id LIMIT {int(top)}",
            )
        ],
        worst_sellers=[
            (r[0], r[1], r[2])
            for r in _rows(
                conn,
                # Worst by customer experience among sellers with enough reviews
                # to mean something; ties broken by lower revenue.
                "SELECT seller_id, gmv, avg_review_score FROM marts.seller_scorecard"
                " WHERE reviews >= 3 AND avg_review_score IS NOT NULL"
                f" ORDER BY avg_review_score, gmv, seller_id LIMIT {int(top)}",
            )
        ],
    )
