"""Declared checks of the warehouse (star schema) and the marts.

Table and column names follow migrations V021/V022: every dimension has a
surrogate key and an unknown member ``-1`` that facts point at when the
source lacks the referenced row.
"""

from __future__ import annotations

from decimal import Decimal

from olist_pipeline.dq import checks as k
from olist_pipeline.dq.model import Check, Severity, qualified
from olist_pipeline.dq.sql import money, raw_current

E, W = Severity.ERROR, Severity.WARN
WH = "warehouse"

# dimension table -> (surrogate key, natural key columns)
DIMENSIONS: dict[str, tuple[str, tuple[str, ...]]] = {
    "dim_date": ("date_key", ()),
    "dim_geolocation": ("geolocation_key", ("zip_code_prefix",)),
    "dim_customer": ("customer_key", ("customer_unique_id", "version")),
    "dim_seller": ("seller_key", ("seller_id",)),
    "dim_product": ("product_key", ("product_id",)),
}
# fact table -> (grain, staging table it is built from)
FACTS: dict[str, tuple[tuple[str, ...], str]] = {
    "fact_order_items": (("order_id", "order_item_id"), "order_items"),
    "fact_payments": (("order_id", "payment_sequential"), "order_payments"),
    "fact_reviews": (("review_id", "order_id"), "order_reviews"),
    "fact_orders": (("order_id",), "orders"),
}
# (table, foreign key column, dimension)
FOREIGN_KEYS: tuple[tuple[str, str, str], ...] = (
    ("fact_order_items", "customer_key", "dim_customer"),
    ("fact_order_items", "product_key", "dim_product"),
    ("fact_order_items", "seller_key", "dim_seller"),
    ("fact_order_items", "purchase_date_key", "dim_date"),
    ("fact_order_items", "shipping_limit_date_key", "dim_date"),
    ("fact_payments", "customer_key", "dim_customer"),
    ("fact_payments", "purchase_date_key", "dim_date"),
    ("fact_reviews", "customer_key", "dim_customer"),
    ("fact_reviews", "purchase_date_key", "dim_date"),
    ("fact_reviews", "creation_date_key", "dim_date"),
    ("fact_reviews", "answer_date_key", "dim_date"),
    ("fact_orders", "customer_key", "dim_customer"),
    ("fact_orders", "purchase_date_key", "dim_date"),
    ("fact_orders", "approved_date_key", "dim_date"),
    ("fact_orders", "carrier_date_key", "dim_date"),
    ("fact_orders", "delivered_date_key", "dim_date"),
    ("fact_orders", "estimated_date_key", "dim_date"),
    ("dim_customer", "geolocation_key", "dim_geolocation"),
    ("dim_seller", "geolocation_key", "dim_geolocation"),
)
# Facts whose unknown-member share is worth a warning: a lookup that missed.
UNKNOWN_MEMBER_WATCH: tuple[tuple[str, str], ...] = (
    ("fact_order_items", "customer_key"),
    ("fact_order_items", "product_key"),
    ("fact_order_items", "seller_key"),
    ("fact_orders", "customer_key"),
    ("fact_orders", "purchase_date_key"),
)
# Typed columns the money reconciliations and the facts' grain rely on.
FACT_SCHEMAS: dict[str, list[tuple[str, tuple[str, ...]]]] = {
    "fact_order_items": [
        ("order_id", ("text",)),
        ("order_item_id", ("integer",)),
        ("price", ("numeric",)),
        ("freight_value", ("numeric",)),
    ],
    "fact_payments": [
        ("order_id", ("text",)),
        ("payment_sequential", ("integer",)),
        ("payment_value", ("numeric",)),
    ],
    "fact_reviews": [("review_id", ("text",)), ("order_id", ("text",))],
    "fact_orders": [
        ("order_id", ("text",)),
        ("payment_value", ("numeric",)),
        ("items_value", ("numeric",)),
        ("freight_value", ("numeric",)),
    ],
}
CENTS = Decimal("0.005")


def _t(name: str, schema: str = WH) -> str:
    return f"{schema}.{name}"


def warehouse_suite() -> list[Check]:
    out: list[Check] = []
    for dim, (sk, natural) in DIMENSIONS.items():
        table = _t(dim)
        rel = qualified(table)
        out.append(k.row_count(WH, table, rel))
        out.append(k.unique(WH, table, rel, (sk,)))
        if natural:
            out.append(k.unique(WH, table, rel, natural))
        out.append(
            k.count_where(
                WH,
                table,
                f"(SELECT count(*) AS n FROM {rel} WHERE {sk} = -1)",
                "unknown_member",
                "t.n <> 1",
                "missing unknown members (key -1)",
                severity=E,
                quirk=False,
            )
        )
    for fact, (grain, staging) in FACTS.items():
        table = _t(fact)
        rel = qualified(table)
        out.append(k.schema(WH, table, FACT_SCHEMAS[fact]))
        out.append(k.row_count(WH, table, rel))
        out.append(k.unique(WH, table, rel, grain))
        out.append(
            k.reconcile(
                WH,
                table,
                "row_count_vs_staging",
                fact,
                f"SELECT count(*) FROM {rel}",
                f"staging.{staging}",
                f"SELECT count(*) FROM {qualified('staging.' + staging)}",
                what="rows more than staging",
            )
        )
    for table_name, column, dim in FOREIGN_KEYS:
        sk = DIMENSIONS[dim][0]
        out.append(
            k.relationship(
                WH,
                _t(table_name),
                qualified(_t(table_name)),
                (column,),
                _t(dim),
                qualified(_t(dim)),
                (sk,),
                name=f"relationship({column}->{dim})",
            )
        )
    for fact, column in UNKNOWN_MEMBER_WATCH:
        out.append(
            k.count_where(
                WH,
                _t(fact),
                qualified(_t(fact)),
                f"unknown({column})",
                f"t.{column} = -1",
                "rows pointing at the unknown member",
                example="t.order_id",
                quirk=False,
            )
        )
    # Dimensions hold every staged entity (plus the unknown member).
    for dim, staging, natural_key in (
        ("dim_seller", "sellers", "seller_id"),
        ("dim_product", "products", "product_id"),
    ):
        out.append(
            k.reconcile(
                WH,
                _t(dim),
                "row_count_vs_staging",
                dim,
                f"SELECT count(*) FROM {qualified(_t(dim))} WHERE {natural_key} IS NOT NULL "
                f"AND {DIMENSIONS[dim][0]} <> -1",
                f"staging.{staging}",
                f"SELECT count(*) FROM {qualified('staging.' + staging)}",
                what="rows more than staging",
            )
        )
    out.extend(_scd2_checks())
    out.extend(_money_checks())
    return out


def _scd2_checks() -> list[Check]:
    table = _t("dim_customer")
    rel = qualified(table)
    return [
        k.scalar(
            WH,
            table,
            "scd2_one_current_version",
            "SELECT count(*), 'e.g. ' || string_agg(customer_unique_id, ', ') "
            "FILTER (WHERE rn <= 3) FROM (SELECT customer_unique_id, row_number() OVER () AS rn "
            f"FROM {rel} WHERE customer_key <> -1 GROUP BY customer_unique_id "
            "HAVING count(*) FILTER (WHERE is_current) <> 1) AS c",
            "customers without exactly one current version",
            severity=E,
            quirk=False,
        ),
        k.scalar(
            WH,
            table,
            "scd2_no_overlap",
            f"SELECT count(*), NULL FROM {rel} a JOIN {rel} b "
            "ON a.customer_unique_id = b.customer_unique_id AND a.version < b.version "
            "AND a.valid_from < b.valid_to AND b.valid_from < a.valid_to "
            "WHERE a.customer_key <> -1",
            "overlapping version pairs",
            severity=E,
            quirk=False,
        ),
        k.reconcile(
            WH,
            table,
            "current_rows_vs_staging",
            "current dim_customer rows",
            f"SELECT count(*) FROM {rel} WHERE is_current AND customer_key <> -1",
            "distinct staging customer_unique_id",
            "SELECT count(DISTINCT customer_unique_id) FROM staging.customers",
            what="rows more than staging",
        ),
    ]


def _money_checks() -> list[Check]:
    raw_pay = f"SELECT sum({money('t.payment_value')}) FROM {raw_current('order_payments')} AS t"
    raw_items = (
        f"SELECT sum({money('t.price')} + {money('t.freight_value')}) "
        f"FROM {raw_current('order_items')} AS t"
    )
    fp, foi, fo = _t("fact_payments"), _t("fact_order_items"), _t("fact_orders")
    return [
        k.reconcile(
            WH,
            fp,
            "money(payment_value)_vs_staging",
            "warehouse",
            "SELECT sum(payment_value) FROM warehouse.fact_payments",
            "staging",
            "SELECT sum(payment_value) FROM staging.order_payments",
            what="difference in sum(payment_value)",
            tolerance=CENTS,
        ),
        k.reconcile(
            WH,
            fp,
            "money(payment_value)_vs_raw",
            "warehouse",
            "SELECT sum(payment_value) FROM warehouse.fact_payments",
            "raw",
            raw_pay,
            what="difference in sum(payment_value)",
            tolerance=CENTS,
        ),
        k.reconcile(
            WH,
            foi,
            "money(price+freight)_vs_raw",
            "warehouse",
            "SELECT sum(price + freight_value) FROM warehouse.fact_order_items",
            "raw",
            raw_items,
            what="difference in sum(price + freight_value)",
            tolerance=CENTS,
        ),
        k.reconcile(
            WH,
            fo,
            "money(payment_value)_vs_fact_payments",
            "fact_orders",
            "SELECT sum(payment_value) FROM warehouse.fact_orders",
            "fact_payments",
            "SELECT sum(payment_value) FROM warehouse.fact_payments",
            what="difference in sum(payment_value)",
            tolerance=CENTS,
        ),
        k.reconcile(
            WH,
            fo,
            "money(items+freight)_vs_fact_order_items",
            "fact_orders",
            "SELECT sum(items_value + freight_value) FROM warehouse.fact_orders",
            "fact_order_items",
            "SELECT sum(price + freight_value) FROM warehouse.fact_order_items",
            what="difference in sum(items + freight)",
            tolerance=CENTS,
        ),
    ]


# ------------------------------------------------------------------ marts

MARTS: dict[str, tuple[tuple[str, ...], Severity]] = {
    # table -> (grain, severity of being empty)
    "sales_daily": (("sales_date", "customer_state", "product_category"), E),
    "sales_monthly": (("sales_month", "customer_state", "product_category"), E),
    "customer_rfm": (("customer_unique_id",), E),
    "seller_scorecard": (("seller_id",), E),
    # Small data sets may have no product bought together twice.
    "copurchase_pairs": (("product_id", "other_product_id"), W),
    "category_copurchase_pairs": (("product_category", "other_category"), W),
    "category_affinity": (("customer_unique_id", "product_category"), E),
    "state_popularity": (("customer_state", "product_id"), E),
}
# (table, condition of a bad row, what)
MART_RULES: tuple[tuple[str, str, str, str], ...] = (
    ("sales_daily", "negative_money", "t.gmv < 0 OR t.item_revenue < 0 OR t.freight_value < 0",
     "rows with negative money"),
    ("sales_daily", "on_time_within_delivered", "t.on_time_orders > t.delivered_orders",
     "rows with more on-time than delivered orders"),
    ("sales_monthly", "negative_money", "t.gmv < 0 OR t.item_revenue < 0 OR t.freight_value < 0",
     "rows with negative money"),
    ("customer_rfm", "scores_in_range",
     "t.r_score NOT BETWEEN 1 AND 5 OR t.f_score NOT BETWEEN 1 AND 5 "
     "OR t.m_score NOT BETWEEN 1 AND 5",
     "customers with an R, F or M score outside 1..5"),
    ("customer_rfm", "positive_frequency", "t.frequency < 1 OR t.recency_days < 0",
     "customers with frequency < 1 or negative recency"),
    ("seller_scorecard", "rates_in_range",
     "t.cancellation_rate NOT BETWEEN 0 AND 1 OR t.avg_review_score NOT BETWEEN 1 AND 5",
     "sellers with a rate outside its range"),
    ("copurchase_pairs", "measures_in_range",
     "t.support NOT BETWEEN 0 AND 1 OR t.confidence NOT BETWEEN 0 AND 1 OR t.lift < 0",
     "pairs with support/confidence outside 0..1 or negative lift"),
    ("category_copurchase_pairs", "measures_in_range",
     "t.support NOT BETWEEN 0 AND 1 OR t.confidence NOT BETWEEN 0 AND 1 OR t.lift < 0",
     "pairs with support/confidence outside 0..1 or negative lift"),
    ("category_affinity", "share_in_range", "t.spend_share NOT BETWEEN 0 AND 1",
     "rows with a spend share outside 0..1"),
    ("state_popularity", "rank_positive", "t.rank_in_state < 1", "rows with a rank below 1"),
)  # fmt: skip


def marts_suite() -> list[Check]:
    out: list[Check] = []
    for mart, (grain, empty_severity) in MARTS.items():
        table = _t(mart, "marts")
        rel = qualified(table)
        out.append(k.row_count("marts", table, rel, severity=empty_severity))
        out.append(k.unique("marts", table, rel, grain))
    for mart, name, condition, what in MART_RULES:
        table = _t(mart, "marts")
        out.append(
            k.count_where(
                "marts", table, qualified(table), name, condition, what, severity=E, quirk=False
            )
        )
    out.append(
        k.reconcile(
            "marts",
            "marts.sales_monthly",
            "items_vs_sales_daily",
            "sales_monthly items",
            "SELECT sum(items) FROM marts.sales_monthly",
            "sales_daily items",
            "SELECT sum(items) FROM marts.sales_daily",
            what="items more than the daily mart",
        )
    )
    out.append(
        k.reconcile(
            "marts",
            "marts.sales_monthly",
            "gmv_vs_sales_daily",
            "sales_monthly gmv",
            "SELECT sum(gmv) FROM marts.sales_monthly",
            "sales_daily gmv",
            "SELECT sum(gmv) FROM marts.sales_daily",
            what="difference in gmv",
            tolerance=CENTS,
        )
    )
    return out
