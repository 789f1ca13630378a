"""warehouse -> marts: what analytics and dashboards read.

Formulas (money in BRL, rounded only at the end):

sales_daily / sales_monthly, grain (day | month of purchase, customer state,
product category in English):
  item_revenue = sum(price); freight_value = sum(freight_value);
  gmv = item_revenue + freight_value (what buyers paid for the items, all
  order statuses); orders = distinct orders; aov = gmv / orders;
  freight_share = freight_value / gmv; delivered_orders = distinct orders
  delivered to the customer; on_time_orders = those delivered on or before the
  estimated date; on_time_pct = on_time_orders / delivered_orders.
  An order with items in two categories counts once in each. Items whose order
  or purchase date is unknown are left out and counted in
  audit.transform_stats (marts/sales_daily: excluded_items, excluded_gmv), so
  sum(gmv) + excluded_gmv = sum(price + freight) of fact_order_items.

customer_rfm (grain customer_unique_id): see olist_pipeline.report.rfm.

seller_scorecard (grain seller): orders, items, item_revenue, freight_value,
  gmv as above over the seller's items; on_time_pct over the seller's
  delivered orders; avg_review_score = mean score of the reviews of orders
  holding at least one of the seller's items; canceled_orders = distinct
  orders with status canceled; cancellation_rate = canceled_orders / orders;
  freight_ratio = freight_value / item_revenue.

copurchase_pairs (grain ordered pair of distinct products bought in the same
  order; both directions stored): with N = orders having at least one known
  product, n(A) = orders containing A, n(A,B) = orders containing both:
  support = n(A,B) / N; confidence(A->B) = n(A,B) / n(A);
  lift = confidence(A->B) / (n(B) / N) = n(A,B) * N / (n(A) * n(B)).

category_copurchase_pairs (grain ordered pair of distinct product categories
  bought in the same order; both directions stored): the same measures over
  baskets of categories (an order holding two items of one category counts
  once), N = orders having at least one item of a known category; the
  'unknown' category is left out.

category_affinity (grain customer_unique_id x category): spend = sum(price);
  spend_share = spend / customer's total spend; affinity = spend_share /
  (category's spend / all spend): > 1 means the customer favours it.

state_popularity (grain customer state x product, top 20 per state by
  distinct orders, then items, revenue, product_id): orders, items, revenue.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from psycopg import Connection, sql

from olist_pipeline.config import Role, Settings
from olist_pipeline.contracts.tables import MARTS_TABLES
from olist_pipeline.db import connect
from olist_pipeline.report.rfm import EXCLUDED_STATUSES, FALLBACK_SEGMENT, SEGMENT_RULES
from olist_pipeline.transform import incremental
from olist_pipeline.transform.io import (
    LayerWriter,
    Stats,
    read_table,
    record_stats,
    step_run,
)
from olist_pipeline.transform.rules import UNKNOWN_KEY

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession

TOP_PER_STATE = 20
RATIO_DIGITS = 6
# dim_product's category for a product without one (and the unknown product's).
UNKNOWN_CATEGORY = "unknown"


def _ratio(num: Column, den: Column) -> Column:
    from pyspark.sql import functions as F

    return F.when(den != 0, F.round(num.cast("double") / den.cast("double"), RATIO_DIGITS))


def _sales(items: DataFrame, period: str) -> DataFrame:
    from pyspark.sql import functions as F

    g = items.groupBy(period, "customer_state", "product_category").agg(
        F.countDistinct("order_id").alias("orders"),
        F.count(F.lit(1)).alias("items"),
        F.coalesce(F.sum("price"), F.lit(0)).alias("item_revenue"),
        F.coalesce(F.sum("freight_value"), F.lit(0)).alias("freight_value"),
        F.countDistinct(F.when(F.col("is_delivered"), F.col("order_id"))).alias("delivered_orders"),
        F.countDistinct(F.when(F.col("is_on_time"), F.col("order_id"))).alias("on_time_orders"),
    )
    gmv = F.col("item_revenue") + F.col("freight_value")
    return g.select(
        period,
        "customer_state",
        "product_category",
        F.col("orders").cast("int"),
        F.col("items").cast("int"),
        F.col("item_revenue").cast("decimal(14,2)"),
        F.col("freight_value").cast("decimal(14,2)"),
        gmv.cast("decimal(14,2)").alias("gmv"),
        F.round(gmv / F.col("orders"), 2).cast("decimal(14,2)").alias("aov"),
        _ratio(F.col("freight_value"), gmv).alias("freight_share"),
        F.col("delivered_orders").cast("int"),
        F.col("on_time_orders").cast("int"),
        _ratio(F.col("on_time_orders"), F.col("delivered_orders")).alias("on_time_pct"),
    )


def _score(col: str, *, higher_is_better: bool) -> Column:
    """1 + floor(5 * customers strictly worse / N): ties share a score."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    order = F.col(col).asc() if higher_is_better else F.col(col).desc()
    beaten = F.rank().over(Window.orderBy(order)) - 1
    n = F.count(F.lit(1)).over(Window.partitionBy())
    return (F.lit(1) + F.floor(F.lit(5) * beaten / n)).cast("short")


def _segment() -> Column:
    from pyspark.sql import functions as F

    r, f, m = F.col("r_score"), F.col("f_score"), F.col("m_score")
    expr = None
    for rule in SEGMENT_RULES:
        cond = r.between(*rule.r) & f.between(*rule.f) & m.between(*rule.m)
        expr = F.when(cond, rule.name) if expr is None else expr.when(cond, rule.name)
    assert expr is not None
    return expr.otherwise(FALLBACK_SEGMENT)


def customer_rfm(orders: DataFrame, customers: DataFrame) -> DataFrame:
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    cur = customers.filter(F.col("customer_key") != UNKNOWN_KEY)
    people = cur.select("customer_key", "customer_unique_id")
    state = cur.filter("is_current").select(
        "customer_unique_id", F.col("state").alias("customer_state")
    )
    o = (
        orders.filter(
            ~F.col("order_status").isin(*EXCLUDED_STATUSES) | F.col("order_status").isNull()
        )
        .filter(F.col("purchased_at").isNotNull())
        .join(people, "customer_key")
    )
    per = o.groupBy("customer_unique_id").agg(
        F.min("purchased_at").alias("first_purchase_at"),
        F.max("purchased_at").alias("last_purchase_at"),
        F.countDistinct("order_id").cast("int").alias("frequency"),
        F.sum("payment_value").cast("decimal(14,2)").alias("monetary"),
    )
    ref = F.date_add(F.max(F.to_date("last_purchase_at")).over(Window.partitionBy()), 1)
    per = per.withColumn("reference_date", ref).withColumn(
        "recency_days", F.datediff("reference_date", F.to_date("last_purchase_at")).cast("int")
    )
    per = (
        per.withColumn("r_score", _score("recency_days", higher_is_better=False))
        .withColumn("f_score", _score("frequency", higher_is_better=True))
        .withColumn("m_score", _score("monetary", higher_is_better=True))
        .withColumn("rfm_cell", F.concat_ws("", "r_score", "f_score", "m_score"))
        .withColumn("segment", _segment())
    )
    return per.join(state, "customer_unique_id", "left")


def seller_scorecard(items: DataFrame, reviews: DataFrame, sellers: DataFrame) -> DataFrame:
    from pyspark.sql import functions as F

    it = items.filter(F.col("seller_key") != UNKNOWN_KEY)
    g = it.groupBy("seller_key").agg(
        F.countDistinct("order_id").alias("orders"),
        F.count(F.lit(1)).alias("items"),
        F.coalesce(F.sum("price"), F.lit(0)).alias("item_revenue"),
        F.coalesce(F.sum("freight_value"), F.lit(0)).alias("freight_value"),
        F.countDistinct(F.when(F.col("is_delivered"), F.col("order_id"))).alias("delivered_orders"),
        F.countDistinct(F.when(F.col("is_on_time"), F.col("order_id"))).alias("on_time_orders"),
        F.countDistinct(F.when(F.col("order_status") == "canceled", F.col("order_id"))).alias(
            "canceled_orders"
        ),
    )
    seller_orders = it.select("seller_key", "order_id").distinct()
    rv = (
        seller_orders.join(reviews.select("review_id", "order_id", "review_score"), "order_id")
        .groupBy("seller_key")
        .agg(
            F.count(F.lit(1)).alias("reviews"),
            F.sum("review_score").alias("_score_sum"),
            F.count("review_score").alias("_scored"),
        )
    )
    gmv = F.col("item_revenue") + F.col("freight_value")
    return (
        g.join(rv, "seller_key", "left")
        .join(
            sellers.select("seller_key", "seller_id", F.col("state").alias("seller_state")),
            "seller_key",
        )
        .select(
            "seller_id",
            "seller_state",
            F.col("orders").cast("int"),
            F.col("items").cast("int"),
            F.col("item_revenue").cast("decimal(14,2)"),
            F.col("freight_value").cast("decimal(14,2)"),
            gmv.cast("decimal(14,2)").alias("gmv"),
            F.col("delivered_orders").cast("int"),
            F.col("on_time_orders").cast("int"),
            _ratio(F.col("on_time_orders"), F.col("delivered_orders")).alias("on_time_pct"),
            F.coalesce("reviews", F.lit(0)).cast("int").alias("reviews"),
            _ratio(F.col("_score_sum"), F.col("_scored")).alias("avg_review_score"),
            F.col("canceled_orders").cast("int"),
            _ratio(F.col("canceled_orders"), F.col("orders")).alias("cancellation_rate"),
            _ratio(F.col("freight_value"), F.col("item_revenue")).alias("freight_ratio"),
        )
    )


def _pairs(baskets: DataFrame, key: str, other: str, per_key: str) -> DataFrame:
    """Ordered pairs of distinct ``key`` values sharing an order, with their measures.

    ``baskets`` holds distinct (order_id, key) rows; N counts its orders.
    """
    from pyspark.sql import functions as F

    per = baskets.groupBy(key).agg(F.count(F.lit(1)).alias("n"))
    total = baskets.select("order_id").distinct().agg(F.count(F.lit(1)).alias("total_orders"))
    a, b = baskets.alias("a"), baskets.alias("b")
    pairs = (
        a.join(
            b,
            (F.col("a.order_id") == F.col("b.order_id")) & (F.col(f"a.{key}") != F.col(f"b.{key}")),
        )
        .groupBy(F.col(f"a.{key}").alias(key), F.col(f"b.{key}").alias(other))
        .agg(F.count(F.lit(1)).alias("pair_orders"))
    )
    pa = per.select(F.col(key), F.col("n").alias(per_key))
    pb = per.select(F.col(key).alias(other), F.col("n").alias("other_orders"))
    j = pairs.join(pa, key).join(pb, other).crossJoin(total)
    n, nab = F.col("total_orders"), F.col("pair_orders")
    return j.select(
        key,
        other,
        nab.cast("int").alias("pair_orders"),
        F.col(per_key).cast("int"),
        F.col("other_orders").cast("int"),
        n.cast("int").alias("total_orders"),
        _ratio(nab, n).alias("support"),
        _ratio(nab, F.col(per_key)).alias("confidence"),
        _ratio(nab * n, F.col(per_key) * F.col("other_orders")).alias("lift"),
    )


def copurchase_pairs(items: DataFrame) -> DataFrame:
    """Product pairs; items carry product_id, NULL for the unknown product (left out)."""
    from pyspark.sql import functions as F

    baskets = (
        items.filter(F.col("product_id").isNotNull()).select("order_id", "product_id").distinct()
    )
    return _pairs(baskets, "product_id", "other_product_id", "product_orders")


def category_copurchase_pairs(items: DataFrame) -> DataFrame:
    """Category pairs; the 'unknown' category (no category, or the unknown product) is left
    out: it gathers unrelated products, so a pair with it recommends nothing."""
    from pyspark.sql import functions as F

    baskets = (
        items.filter(F.col("product_category") != UNKNOWN_CATEGORY)
        .select("order_id", "product_category")
        .distinct()
    )
    return _pairs(baskets, "product_category", "other_category", "category_orders")


def category_affinity(items: DataFrame) -> DataFrame:
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    it = items.filter(F.col("customer_unique_id").isNotNull())
    g = it.groupBy("customer_unique_id", "product_category").agg(
        F.count(F.lit(1)).cast("int").alias("items"),
        F.coalesce(F.sum("price"), F.lit(0)).cast("decimal(14,2)").alias("spend"),
    )
    cat = it.groupBy("product_category").agg(F.coalesce(F.sum("price"), F.lit(0)).alias("_cat"))
    g = g.join(cat, "product_category")
    cust_total = F.sum("spend").over(Window.partitionBy("customer_unique_id"))
    all_total = F.sum("spend").over(Window.partitionBy())
    g = g.withColumn("_cust", cust_total).withColumn("_all", all_total)
    share = _ratio(F.col("spend"), F.col("_cust"))
    # affinity = (spend/cust) / (cat/all) = spend*all / (cust*cat), one division.
    aff = _ratio(F.col("spend") * F.col("_all"), F.col("_cust") * F.col("_cat"))
    return g.select(
        "customer_unique_id",
        "product_category",
        "items",
        "spend",
        F.coalesce(share, F.lit(0.0)).alias("spend_share"),
        F.coalesce(aff, F.lit(0.0)).alias("affinity"),
    )


def state_popularity(items: DataFrame) -> DataFrame:
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    it = items.filter(F.col("product_id").isNotNull())
    g = it.groupBy("customer_state", "product_id", "product_category").agg(
        F.countDistinct("order_id").cast("int").alias("orders"),
        F.count(F.lit(1)).cast("int").alias("items"),
        F.coalesce(F.sum("price"), F.lit(0)).cast("decimal(14,2)").alias("revenue"),
    )
    w = Window.partitionBy("customer_state").orderBy(
        F.col("orders").desc(), F.col("items").desc(), F.col("revenue").desc(), F.col("product_id")
    )
    return g.withColumn("rank_in_state", F.row_number().over(w).cast("int")).filter(
        F.col("rank_in_state") <= TOP_PER_STATE
    )


# The warehouse tables the marts read, and the columns they use of each: a cached JDBC
# read keeps every column it selects (Spark prunes no column below a cache).
WAREHOUSE_INPUTS: dict[str, tuple[str, ...]] = {
    "fact_order_items": (
        "order_id",
        "customer_key",
        "product_key",
        "seller_key",
        "purchase_date_key",
        "order_status",
        "price",
        "freight_value",
    ),
    "fact_orders": (
        "order_id",
        "customer_key",
        "order_status",
        "purchased_at",
        "is_delivered",
        "is_on_time",
        "payment_value",
    ),
    "fact_reviews": ("review_id", "order_id", "review_score"),
    "dim_customer": ("customer_key", "customer_unique_id", "state", "is_current"),
    "dim_product": ("product_key", "product_id", "category_name_english"),
    "dim_seller": ("seller_key", "seller_id", "state"),
}


def build(spark: SparkSession, settings: Settings) -> tuple[dict[str, DataFrame], Stats]:
    from pyspark.sql import functions as F

    wh = {
        t: read_table(spark, settings, f"warehouse.{t}").select(*cols).cache()
        for t, cols in WAREHOUSE_INPUTS.items()
    }
    orders = wh["fact_orders"]
    cust = wh["dim_customer"]
    items = (
        wh["fact_order_items"]
        .join(
            orders.select("order_id", "purchased_at", "is_delivered", "is_on_time"),
            "order_id",
            "left",
        )
        .join(
            cust.select(
                "customer_key", "customer_unique_id", F.col("state").alias("customer_state")
            ),
            "customer_key",
            "left",
        )
        .join(
            wh["dim_product"].select(
                "product_key",
                "product_id",
                F.col("category_name_english").alias("product_category"),
            ),
            "product_key",
            "left",
        )
        .withColumn("customer_state", F.coalesce("customer_state", F.lit("unknown")))
        .withColumn("product_category", F.coalesce("product_category", F.lit(UNKNOWN_CATEGORY)))
        .withColumn(
            "customer_unique_id",
            F.when(F.col("customer_key") != UNKNOWN_KEY, F.col("customer_unique_id")),
        )
        .withColumn("product_id", F.when(F.col("product_key") != UNKNOWN_KEY, F.col("product_id")))
        .withColumn("is_delivered", F.coalesce("is_delivered", F.lit(False)))
        .cache()
    )
    dated = F.col("purchase_date_key") != UNKNOWN_KEY
    sold = items.filter(dated)
    daily = _sales(sold.withColumn("sales_date", F.to_date("purchased_at")), "sales_date")
    monthly = _sales(
        sold.withColumn("sales_month", F.trunc(F.to_date("purchased_at"), "month")), "sales_month"
    )
    frames = {
        "sales_daily": daily,
        "sales_monthly": monthly,
        "customer_rfm": customer_rfm(orders, cust),
        "seller_scorecard": seller_scorecard(items, wh["fact_reviews"], wh["dim_seller"]),
        "copurchase_pairs": copurchase_pairs(items),
        "category_copurchase_pairs": category_copurchase_pairs(items),
        "category_affinity": category_affinity(items),
        "state_popularity": state_popularity(items),
    }
    return frames, {}


def excluded_items(conn: Connection[Any]) -> dict[str, Any]:
    """The items the sales marts leave out (no known purchase date), for the GMV reconciliation.

    One aggregate in PostgreSQL over the warehouse the marts were built from:
    as a Spark action it ran before any mart's job could start.
    """
    row = conn.execute(
        "SELECT count(*), coalesce(sum(price + freight_value), 0)"
        " FROM warehouse.fact_order_items WHERE purchase_date_key = %s",
        (UNKNOWN_KEY,),
    ).fetchone()
    assert row is not None
    return {"excluded_items": row[0], "excluded_gmv": row[1]}


# An increment rebuilds these slices (kind marked by the warehouse -> the column it selects);
# every other mart depends on whole-history figures and is rebuilt whole.
SLICES: dict[str, tuple[str, str, str]] = {
    # table: (kind, column, SQL turning the marked key into the column's value)
    "sales_daily": ("day", "sales_date", "key::date"),
    "sales_monthly": ("day", "sales_month", "date_trunc('month', key::date)::date"),
    "seller_scorecard": ("seller", "seller_id", "key"),
    "state_popularity": ("state", "customer_state", "key"),
}


def _sliced(
    settings: Settings, frames: dict[str, DataFrame]
) -> tuple[dict[str, DataFrame], dict[str, sql.Composed]]:
    """Keep the marked slices of the sliced marts; the DELETE of each slice for the publish."""
    from datetime import date

    from pyspark.sql import functions as F

    keys = {
        kind: incremental.dirty_keys(settings, "marts", kind) for kind in ("day", "seller", "state")
    }
    values: dict[str, list[Any]] = {
        "sales_daily": [date.fromisoformat(k) for k in keys["day"]],
        "sales_monthly": sorted({date.fromisoformat(k).replace(day=1) for k in keys["day"]}),
        "seller_scorecard": keys["seller"],
        "state_popularity": keys["state"],
    }
    out: dict[str, DataFrame] = {}
    deletes: dict[str, sql.Composed] = {}
    for table, df in frames.items():
        if table not in SLICES:
            out[table] = df
            continue
        if not values[table]:
            continue  # nothing of it changed
        kind, column, value = SLICES[table]
        out[table] = df.filter(F.col(column).isin(*values[table]))
        deletes[table] = sql.SQL(
            "DELETE FROM {} WHERE {} IN (SELECT {} FROM audit.layer_dirty"
            " WHERE layer = 'marts' AND kind = {})"
        ).format(
            sql.Identifier("marts", table),
            sql.Identifier(column),
            sql.SQL(value),
            sql.Literal(kind),
        )
    return out, deletes


def build_and_publish(
    settings: Settings, run_id: str, spark: SparkSession, plan: incremental.Plan | None = None
) -> Stats:
    """Build the marts from the warehouse tables and publish them.

    An increment rebuilds the marked days (daily and monthly sales), sellers
    (scorecard) and customer states (popularity) from the whole warehouse, and
    replaces those slices; customer_rfm, the two co-purchase pair marts and
    category_affinity are rebuilt whole, since every new order moves their
    shared figures (the RFM reference date and quintiles, the order total N
    of support and lift, the all-spend total of affinity).
    """
    p = plan or incremental.plan(settings, "marts")
    with step_run(settings, run_id, "transform.marts") as step:
        writer = LayerWriter(settings, "marts", run_id)

        def after_publish(conn: Connection[Any]) -> None:
            incremental.consume_dirty(conn, "marts")
            incremental.record_batches(conn, p, run_id)

        try:
            deletes: dict[str, sql.Composed] = {}
            stats: Stats = {}
            if p.needs_spark:
                frames, stats = build(spark, settings)
                if not p.full:
                    frames, deletes = _sliced(settings, frames)
                writer.write_all(frames, settings.spark.concurrent_jobs)
            with connect(settings, Role.TRANSFORMER, autocommit=True) as conn:
                stats["sales_daily"] = excluded_items(conn)
            writer.publish(deletes, after=after_publish)
            for table in MARTS_TABLES:
                stats.setdefault(table, {}).update(
                    writer.aggregates(table, {"rows": "count(*)"}, published=True)
                )
            stats["sales_daily"].update(
                writer.aggregates(
                    "sales_daily", {"sum_gmv": "coalesce(sum(gmv), 0)"}, published=True
                )
            )
        except BaseException:
            writer.discard()
            raise
        finally:
            spark.catalog.clearCache()
        record_stats(settings, run_id, "marts", stats)
        step["rows_out"] = int(sum(writer.rows.values()))
        step["detail"] = {
            "plan": p.describe(),
            "written": dict(writer.rows),
            "tables": {t: {k: str(v) for k, v in s.items()} for t, s in stats.items()},
        }
    return stats
