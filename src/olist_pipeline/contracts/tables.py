"""The tables of each built layer, in build order: the one list of them.

The transform builds and publishes these, the privileges declaration grants them,
the quality suites and the tests walk them. Staging holds one table per source
file, so its list is the source contracts' (``contracts.sources.TABLES``).
"""

from __future__ import annotations

from olist_pipeline.contracts.sources import TABLES as SOURCE_TABLES

STAGING_TABLES: tuple[str, ...] = SOURCE_TABLES
WAREHOUSE_FACTS: tuple[str, ...] = (
    "fact_order_items",
    "fact_payments",
    "fact_reviews",
    "fact_orders",
)
WAREHOUSE_TABLES: tuple[str, ...] = (
    "dim_date",
    "dim_geolocation",
    "dim_customer",
    "dim_seller",
    "dim_product",
    *WAREHOUSE_FACTS,
)
MARTS_TABLES: tuple[str, ...] = (
    "sales_daily",
    "sales_monthly",
    "customer_rfm",
    "seller_scorecard",
    "copurchase_pairs",
    "category_copurchase_pairs",
    "category_affinity",
    "state_popularity",
)
# layer -> its tables, for whoever walks every built table.
LAYER_TABLES: dict[str, tuple[str, ...]] = {
    "staging": STAGING_TABLES,
    "warehouse": WAREHOUSE_TABLES,
    "marts": MARTS_TABLES,
}
