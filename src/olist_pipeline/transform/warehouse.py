"""staging -> warehouse: the star schema (grain of each table = its primary key).

Surrogate keys are a 63-bit hash (xxhash64) of the natural key (for
``dim_customer``: of customer_unique_id and version), so a key never depends
on which other rows exist: an increment gives a row the key a full rebuild
gives it (a collision, about 1 in 10^7 at a million keys, fails the primary
key loudly at publish). Every dimension carries an unknown member with key
-1, used by facts whose source row lacks the referenced dimension row (or a
date outside ``dim_date``).

- ``dim_date``: every day of the years the data spans (clamped to
  2000..2050), with ISO weekday/week, Brazilian national holidays (movable
  ones from Easter) and Black Friday.
- ``dim_geolocation``: one row per zip prefix from the in-Brazil points only;
  latitude/longitude = mean of its distinct points, city/state = the most
  frequent (ties: alphabetical first).
- ``dim_customer``: SCD2 on customer_unique_id. A customer's source rows
  (one per customer_id, i.e. per order) are ordered by the order's purchase
  time; a new version starts when zip, city or state differs from the
  previous row. valid_from = purchase time of the version's first order (the
  first version starts at 1900-01-01), valid_to = next version's valid_from
  (the current one ends 9999-12-31), half-open [valid_from, valid_to).
- ``dim_seller``, ``dim_product`` (English category; untranslated categories
  keep their Portuguese name, products without a category get 'unknown').
- ``fact_order_items``, ``fact_payments``, ``fact_reviews`` at source grain;
  ``fact_orders`` an accumulating snapshot with lifecycle timestamps, their
  date keys, durations, lateness and the order's item/payment totals.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from psycopg import Connection, sql

from olist_pipeline.config import Role, Settings
from olist_pipeline.contracts.sources import TABLES
from olist_pipeline.contracts.tables import WAREHOUSE_TABLES
from olist_pipeline.db import connect
from olist_pipeline.logs import get_logger
from olist_pipeline.transform import incremental, rules
from olist_pipeline.transform.io import (
    Layer,
    LayerWriter,
    Stats,
    read_table,
    record_stats,
    step_run,
)

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession

log = get_logger(__name__)

UNKNOWN = rules.UNKNOWN_KEY
FIRST_VALID_FROM = datetime(1900, 1, 1)
LAST_VALID_TO = datetime(9999, 12, 31)
DATE_YEARS = (2000, 2050)
MONTHS = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
]
DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]


def calendar(first_year: int, last_year: int) -> list[dict[str, Any]]:
    """dim_date rows for whole years, plus the unknown member."""
    rows: list[dict[str, Any]] = [
        {
            "date_key": UNKNOWN,
            "full_date": None,
            "year": None,
            "quarter": None,
            "month": None,
            "month_name": None,
            "day_of_month": None,
            "day_of_week": None,
            "day_name": None,
            "iso_week": None,
            "is_weekend": False,
            "is_holiday": False,
            "holiday_name": None,
            "is_black_friday": False,
        }
    ]
    for year in range(first_year, last_year + 1):
        holidays = rules.brazil_holidays(year)
        bf = rules.black_friday(year)
        d = date(year, 1, 1)
        while d.year == year:
            iso = d.isocalendar()
            rows.append(
                {
                    "date_key": rules.date_key(d),
                    "full_date": d,
                    "year": year,
                    "quarter": (d.month - 1) // 3 + 1,
                    "month": d.month,
                    "month_name": MONTHS[d.month - 1],
                    "day_of_month": d.day,
                    "day_of_week": iso.weekday,
                    "day_name": DAYS[iso.weekday - 1],
                    "iso_week": iso.week,
                    "is_weekend": iso.weekday >= 6,
                    "is_holiday": d in holidays,
                    "holiday_name": holidays.get(d),
                    "is_black_friday": d == bf,
                }
            )
            d += timedelta(days=1)
    return rows


def surrogate(*cols: str) -> Column:
    """A dimension key from its natural key: xxhash64, made non-negative (-1 is the unknown)."""
    from pyspark.sql import functions as F

    return F.xxhash64(*cols).bitwiseAND(F.lit(0x7FFFFFFFFFFFFFFF)).cast("long")


def _wall(dt: datetime) -> Column:
    """A wall-clock (zone-less) timestamp literal, whatever the JVM's zone."""
    from pyspark.sql import functions as F

    return F.to_timestamp_ntz(F.lit(dt.strftime("%Y-%m-%d %H:%M:%S")))


def _date_key(ts: Column, years: tuple[int, int]) -> Column:
    from pyspark.sql import functions as F

    y = F.year(ts)
    key = y * 10000 + F.month(ts) * 100 + F.dayofmonth(ts)
    return F.when(y.between(years[0], years[1]), key).otherwise(F.lit(UNKNOWN)).cast("int")


def _lookup(df: DataFrame, dim: DataFrame, on: str, key: str) -> DataFrame:
    """Left-join ``dim``'s surrogate key on ``on``; -1 when there is no match."""
    from pyspark.sql import functions as F

    small = dim.filter(F.col(key) != UNKNOWN).select(F.col(on).alias(f"_{on}"), key)
    return (
        df.join(small, df[on] == small[f"_{on}"], "left")
        .drop(f"_{on}")
        .withColumn(key, F.coalesce(F.col(key), F.lit(UNKNOWN)).cast("long"))
    )


def _most_frequent(df: DataFrame, group: str, value: str) -> DataFrame:
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    counts = df.filter(F.col(value).isNotNull()).groupBy(group, value).count()
    w = Window.partitionBy(group).orderBy(F.col("count").desc(), F.col(value).asc())
    return counts.withColumn("_r", F.row_number().over(w)).filter("_r = 1").select(group, value)


def dim_geolocation(geo: DataFrame) -> DataFrame:
    from pyspark.sql import functions as F

    geo = geo.withColumnRenamed("geolocation_zip_code_prefix", "zip").filter(
        F.col("zip").isNotNull()
    )
    inside = geo.filter("in_brazil")
    removed = (
        geo.filter(~F.col("in_brazil"))
        .groupBy("zip")
        .agg(F.count(F.lit(1)).alias("points_removed_outside_brazil"))
    )
    # Exact decimal means: the same input gives the same bits whatever the partitioning.
    points = inside.groupBy("zip").agg(
        F.avg(F.col("geolocation_lat").cast("decimal(12,8)")).cast("double").alias("latitude"),
        F.avg(F.col("geolocation_lng").cast("decimal(12,8)")).cast("double").alias("longitude"),
        F.count(F.lit(1)).alias("points"),
    )
    city = _most_frequent(inside, "zip", "geolocation_city").withColumnRenamed(
        "geolocation_city", "city"
    )
    state = _most_frequent(inside, "zip", "geolocation_state").withColumnRenamed(
        "geolocation_state", "state"
    )
    dim = (
        points.join(city, "zip", "left")
        .join(state, "zip", "left")
        .join(removed, "zip", "left")
        .withColumn(
            "points_removed_outside_brazil", F.coalesce("points_removed_outside_brazil", F.lit(0))
        )
        .withColumn("geolocation_key", surrogate("zip"))
        .withColumnRenamed("zip", "zip_code_prefix")
    )
    return _with_unknown(
        dim,
        {
            "geolocation_key": UNKNOWN,
            "zip_code_prefix": "unknown",
            "points": 0,
            "points_removed_outside_brazil": 0,
        },
    )


def _with_unknown(dim: DataFrame, values: dict[str, Any]) -> DataFrame:
    """``dim`` plus its unknown member (listed values, NULL elsewhere)."""
    from pyspark.sql import functions as F

    row = [
        (
            _wall(values[f.name])
            if isinstance(values.get(f.name), datetime)
            else F.lit(values.get(f.name))
        )
        .cast(f.dataType)
        .alias(f.name)
        for f in dim.schema.fields
    ]
    one = dim.sparkSession.range(1).select(*row)
    return dim.unionByName(one)


def dim_customer(
    customers: DataFrame, orders: DataFrame, geo: DataFrame
) -> tuple[DataFrame, DataFrame]:
    """(dim_customer, customer_id -> customer_key map)."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    rows = (
        customers.filter(F.col("customer_unique_id").isNotNull())
        .join(
            orders.select("customer_id", F.col("order_purchase_timestamp").alias("ts")),
            "customer_id",
            "left",
        )
        .select(
            "customer_id",
            "customer_unique_id",
            "ts",
            F.col("customer_zip_code_prefix").alias("zip_code_prefix"),
            F.col("customer_city").alias("city"),
            F.col("customer_state").alias("state"),
        )
    )
    # Rows without a known purchase time (no order yet) sort after the others.
    per_customer = Window.partitionBy("customer_unique_id")
    rows = rows.withColumn(
        "ts", F.coalesce("ts", F.max("ts").over(per_customer), _wall(FIRST_VALID_FROM))
    )
    ordered = per_customer.orderBy("ts", "customer_id")
    attrs = F.concat_ws(
        "\u0001",
        F.coalesce("zip_code_prefix", F.lit("")),
        F.coalesce("city", F.lit("")),
        F.coalesce("state", F.lit("")),
    )
    rows = rows.withColumn("_attrs", attrs)
    rows = rows.withColumn(
        "_change",
        F.when(F.lag("_attrs").over(ordered).isNull(), 1)
        .when(F.lag("_attrs").over(ordered) != F.col("_attrs"), 1)
        .otherwise(0),
    ).withColumn(
        "version",
        F.sum("_change").over(ordered.rowsBetween(Window.unboundedPreceding, 0)).cast("int"),
    )
    versions = rows.groupBy("customer_unique_id", "version").agg(
        F.min("ts").alias("valid_from"),
        F.first("zip_code_prefix").alias("zip_code_prefix"),
        F.first("city").alias("city"),
        F.first("state").alias("state"),
    )
    vw = Window.partitionBy("customer_unique_id").orderBy("version")
    versions = (
        versions.withColumn(
            "valid_from",
            F.when(F.col("version") == 1, _wall(FIRST_VALID_FROM)).otherwise(F.col("valid_from")),
        )
        .withColumn("valid_to", F.coalesce(F.lead("valid_from").over(vw), _wall(LAST_VALID_TO)))
        .withColumn("is_current", F.lead("version").over(vw).isNull())
        .withColumn("customer_key", surrogate("customer_unique_id", "version"))
    )
    # A version's attributes are identical across its rows, so first() is safe.
    dim = _lookup(versions, geo, "zip_code_prefix", "geolocation_key")
    dim = dim.select(
        "customer_key",
        "customer_unique_id",
        "version",
        "zip_code_prefix",
        "city",
        "state",
        "geolocation_key",
        "valid_from",
        "valid_to",
        "is_current",
    )
    mapping = rows.join(
        versions.select("customer_unique_id", "version", "customer_key"),
        ["customer_unique_id", "version"],
    ).select("customer_id", "customer_key")
    dim = _with_unknown(
        dim,
        {
            "customer_key": UNKNOWN,
            "customer_unique_id": "unknown",
            "version": 1,
            "geolocation_key": UNKNOWN,
            "valid_from": FIRST_VALID_FROM,
            "valid_to": LAST_VALID_TO,
            "is_current": True,
        },
    )
    return dim, mapping


def dim_seller(sellers: DataFrame, geo: DataFrame) -> DataFrame:
    from pyspark.sql import functions as F

    dim = sellers.select(
        "seller_id",
        F.col("seller_zip_code_prefix").alias("zip_code_prefix"),
        F.col("seller_city").alias("city"),
        F.col("seller_state").alias("state"),
    ).withColumn("seller_key", surrogate("seller_id"))
    dim = _lookup(dim, geo, "zip_code_prefix", "geolocation_key")
    return _with_unknown(
        dim, {"seller_key": UNKNOWN, "seller_id": "unknown", "geolocation_key": UNKNOWN}
    )


def dim_product(products: DataFrame, translation: DataFrame) -> DataFrame:
    from pyspark.sql import functions as F

    tr = translation.select(
        F.col("product_category_name").alias("_pt"),
        F.col("product_category_name_english").alias("_en"),
    ).filter(F.col("_en").isNotNull())
    dim = (
        products.join(tr, products["product_category_name"] == tr["_pt"], "left")
        .select(
            "product_id",
            F.col("product_category_name").alias("category_name"),
            F.coalesce("_en", "product_category_name", F.lit("unknown")).alias(
                "category_name_english"
            ),
            F.col("_en").isNotNull().alias("category_translated"),
            F.col("product_name_lenght").alias("name_length"),
            F.col("product_description_lenght").alias("description_length"),
            F.col("product_photos_qty").alias("photos_qty"),
            F.col("product_weight_g").alias("weight_g"),
            F.col("product_length_cm").alias("length_cm"),
            F.col("product_height_cm").alias("height_cm"),
            F.col("product_width_cm").alias("width_cm"),
        )
        .withColumn("product_key", surrogate("product_id"))
    )
    return _with_unknown(
        dim,
        {
            "product_key": UNKNOWN,
            "product_id": "unknown",
            "category_name_english": "unknown",
            "category_translated": False,
        },
    )


def _hours(later: Column, earlier: Column, per: int) -> Column:
    from pyspark.sql import functions as F

    seconds = F.unix_timestamp(later.cast("timestamp")) - F.unix_timestamp(
        earlier.cast("timestamp")
    )
    return F.round(seconds / F.lit(per), 2).cast("decimal(12,2)")


def facts(
    st: dict[str, DataFrame],
    cust_map: DataFrame,
    products: DataFrame,
    sellers: DataFrame,
    years: tuple[int, int],
) -> dict[str, DataFrame]:
    from pyspark.sql import functions as F

    o = _lookup(st["orders"], cust_map, "customer_id", "customer_key")
    o = o.withColumn("purchase_date_key", _date_key(F.col("order_purchase_timestamp"), years))
    order_cols = o.select(
        "order_id", "customer_key", "purchase_date_key", "order_status", "order_purchase_timestamp"
    )

    def with_order(df: DataFrame) -> DataFrame:
        joined = df.join(order_cols, "order_id", "left")
        return joined.withColumn(
            "customer_key", F.coalesce("customer_key", F.lit(UNKNOWN)).cast("long")
        ).withColumn(
            "purchase_date_key", F.coalesce("purchase_date_key", F.lit(UNKNOWN)).cast("int")
        )

    items = with_order(st["order_items"])
    items = _lookup(items, products, "product_id", "product_key")
    items = _lookup(items, sellers, "seller_id", "seller_key")
    fact_items = items.select(
        "order_id",
        "order_item_id",
        "customer_key",
        "product_key",
        "seller_key",
        "purchase_date_key",
        _date_key(F.col("shipping_limit_date"), years).alias("shipping_limit_date_key"),
        "order_status",
        "price",
        "freight_value",
    )

    pays = with_order(st["order_payments"])
    fact_payments = pays.select(
        "order_id",
        "payment_sequential",
        "customer_key",
        "purchase_date_key",
        "payment_type",
        "payment_installments",
        "payment_value",
    )

    rev = with_order(st["order_reviews"])
    fact_reviews = rev.select(
        "review_id",
        "order_id",
        "customer_key",
        "purchase_date_key",
        _date_key(F.col("review_creation_date"), years).alias("creation_date_key"),
        _date_key(F.col("review_answer_timestamp"), years).alias("answer_date_key"),
        "review_score",
        (
            F.col("review_comment_title").isNotNull() | F.col("review_comment_message").isNotNull()
        ).alias("has_comment"),
        _hours(F.col("review_answer_timestamp"), F.col("review_creation_date"), 3600).alias(
            "answer_hours"
        ),
        F.coalesce(
            F.to_date("review_creation_date") < F.to_date("order_purchase_timestamp"), F.lit(False)
        ).alias("flag_review_before_purchase"),
    )

    item_tot = (
        st["order_items"]
        .groupBy("order_id")
        .agg(
            F.count(F.lit(1)).alias("items"),
            F.coalesce(F.sum("price"), F.lit(0)).alias("items_value"),
            F.coalesce(F.sum("freight_value"), F.lit(0)).alias("freight_value"),
        )
    )
    pay_tot = (
        st["order_payments"]
        .groupBy("order_id")
        .agg(
            F.count(F.lit(1)).alias("payments"),
            F.coalesce(F.sum("payment_value"), F.lit(0)).alias("payment_value"),
        )
    )
    rev_tot = (
        st["order_reviews"]
        .groupBy("order_id")
        .agg(F.round(F.avg("review_score"), 2).cast("decimal(4,2)").alias("review_score"))
    )
    p, a = F.col("order_purchase_timestamp"), F.col("order_approved_at")
    c, d = F.col("order_delivered_carrier_date"), F.col("order_delivered_customer_date")
    e = F.col("order_estimated_delivery_date")
    delay = F.datediff(F.to_date(d), F.to_date(e))
    fact_orders = (
        o.join(item_tot, "order_id", "left")
        .join(pay_tot, "order_id", "left")
        .join(rev_tot, "order_id", "left")
        .select(
            "order_id",
            "customer_key",
            "purchase_date_key",
            _date_key(a, years).alias("approved_date_key"),
            _date_key(c, years).alias("carrier_date_key"),
            _date_key(d, years).alias("delivered_date_key"),
            _date_key(e, years).alias("estimated_date_key"),
            "order_status",
            p.alias("purchased_at"),
            a.alias("approved_at"),
            c.alias("delivered_carrier_at"),
            d.alias("delivered_customer_at"),
            e.alias("estimated_delivery_at"),
            F.coalesce("items", F.lit(0)).cast("int").alias("items"),
            F.coalesce("items_value", F.lit(0)).cast("decimal(14,2)").alias("items_value"),
            F.coalesce("freight_value", F.lit(0)).cast("decimal(14,2)").alias("freight_value"),
            F.coalesce("payments", F.lit(0)).cast("int").alias("payments"),
            F.coalesce("payment_value", F.lit(0)).cast("decimal(14,2)").alias("payment_value"),
            "review_score",
            _hours(a, p, 3600).alias("hours_to_approve"),
            _hours(c, p, 86400).alias("days_to_carrier"),
            _hours(d, p, 86400).alias("days_to_deliver"),
            delay.alias("delivery_delay_days"),
            d.isNotNull().alias("is_delivered"),
            F.when(d.isNotNull() & e.isNotNull(), delay <= 0).alias("is_on_time"),
            F.when(d.isNotNull() & e.isNotNull(), delay > 0).alias("is_late"),
            "has_lifecycle_anomaly",
        )
    )
    return {
        "fact_order_items": fact_items,
        "fact_payments": fact_payments,
        "fact_reviews": fact_reviews,
        "fact_orders": fact_orders,
    }


SMALL_STAGING_TABLES = frozenset({"sellers", "category_translation"})
# Staging tables an increment reads for its orders only, and for its customers only.
BY_ORDER = frozenset({"orders", "order_items", "order_payments", "order_reviews"})
_DATE_SCHEMA = (
    "date_key int, full_date date, year short, quarter short, month short, month_name string, "
    "day_of_month short, day_of_week short, day_name string, iso_week short, is_weekend boolean, "
    "is_holiday boolean, holiday_name string, is_black_friday boolean"
)


def _years(settings: Settings) -> tuple[int, int]:
    """The years ``dim_date`` covers: from the first purchase to a year after the last date."""
    with connect(settings, Role.TRANSFORMER, autocommit=True) as conn:
        span = conn.execute(
            "SELECT min(extract(year FROM order_purchase_timestamp))::int,"
            " max(extract(year FROM order_estimated_delivery_date))::int,"
            " max(extract(year FROM order_delivered_customer_date))::int FROM staging.orders"
        ).fetchone()
    lo = span[0] if span and span[0] else DATE_YEARS[0]
    hi = max(v for v in (span[1], span[2], lo) if v) if span else lo
    return max(DATE_YEARS[0], lo), min(DATE_YEARS[1], hi + 1)


def _built_years(settings: Settings) -> tuple[int, int] | None:
    with connect(settings, Role.TRANSFORMER, autocommit=True) as conn:
        row = conn.execute(
            "SELECT min(year), max(year) FROM warehouse.dim_date WHERE date_key <> %s", (UNKNOWN,)
        ).fetchone()
    return (int(row[0]), int(row[1])) if row and row[0] is not None else None


class _Affected:
    """The keys an increment rebuilds, as run tables in ``warehouse`` (from the staging marks).

    Orders: those marked, and those whose items name a marked seller or product
    or whose customer id is marked. Customers (customer_unique_id): those
    marked, those of marked customer ids, and those of the orders above. Then
    every order of those customers, since an order's customer key is its
    customer's SCD2 version. Both sets are closed: the customers of the orders
    are in the customer set, the orders of the customers in the order set.
    """

    def __init__(self, writer: LayerWriter) -> None:
        marked = "SELECT kind, key FROM audit.layer_dirty WHERE layer = 'warehouse'"
        self.customers = writer.key_table(
            "customers",
            sql.SQL(
                f"WITH d AS ({marked}), o0 AS ("
                " SELECT key AS order_id FROM d WHERE kind = 'order'"
                " UNION SELECT i.order_id FROM staging.order_items i"
                "  JOIN d ON d.kind = 'seller' AND i.seller_id = d.key"
                " UNION SELECT i.order_id FROM staging.order_items i"
                "  JOIN d ON d.kind = 'product' AND i.product_id = d.key"
                " UNION SELECT o.order_id FROM staging.orders o"
                "  JOIN d ON d.kind = 'customer' AND o.customer_id = d.key)"
                " SELECT key AS customer_unique_id FROM d WHERE kind = 'customer_unique'"
                " UNION SELECT c.customer_unique_id FROM staging.customers c"
                "  JOIN d ON d.kind = 'customer' AND c.customer_id = d.key"
                " UNION SELECT c.customer_unique_id FROM staging.customers c"
                "  JOIN staging.orders o USING (customer_id) JOIN o0 USING (order_id)"
            ),
        )
        self.orders = writer.key_table(
            "orders",
            sql.SQL(
                f"WITH d AS ({marked})"
                " SELECT key AS order_id FROM d WHERE kind = 'order'"
                " UNION SELECT i.order_id FROM staging.order_items i"
                "  JOIN d ON d.kind IN ('seller', 'product')"
                "  AND d.key = CASE d.kind WHEN 'seller' THEN i.seller_id ELSE i.product_id END"
                " UNION SELECT o.order_id FROM staging.orders o"
                "  JOIN d ON d.kind = 'customer' AND o.customer_id = d.key"
                " UNION SELECT o.order_id FROM staging.orders o"
                "  JOIN staging.customers c USING (customer_id)"
                f"  JOIN {self.customers} u USING (customer_unique_id)"
            ),
        )
        self.sellers = writer.key_table(
            "sellers",
            sql.SQL(f"SELECT key AS seller_id FROM ({marked}) d WHERE kind = 'seller'"),
        )
        self.products = writer.key_table(
            "products",
            sql.SQL(f"SELECT key AS product_id FROM ({marked}) d WHERE kind = 'product'"),
        )
        # A Spark job costs a few tenths of a second even with no rows: an empty set skips it.
        self.empty = {name for name, rows in writer.key_rows.items() if rows == 0}

    def source(self, table: str) -> str:
        """The staging rows of ``table`` the increment needs."""
        if table in BY_ORDER:
            return f"(SELECT t.* FROM staging.{table} t JOIN {self.orders} USING (order_id)) q"
        if table == "customers":
            return (
                f"(SELECT t.* FROM staging.customers t"
                f" JOIN {self.customers} USING (customer_unique_id)) q"
            )
        return f"staging.{table}"

    def delete(self, table: str) -> sql.Composed:
        keys = {
            "dim_customer": (self.customers, "customer_unique_id"),
            "dim_seller": (self.sellers, "seller_id"),
            "dim_product": (self.products, "product_id"),
        }
        rel, col = keys.get(table, (self.orders, "order_id"))
        return sql.SQL("DELETE FROM {} t USING {} k WHERE t.{} = k.{}").format(
            sql.Identifier("warehouse", table),
            sql.Identifier(*rel.split(".")),
            sql.Identifier(col),
            sql.Identifier(col),
        )

    def mark_marts(self, conn: Connection[Any], run_id: str) -> None:
        """Mark the days, sellers and states of the increment's rows (old or new) for the marts."""
        o = self.orders
        marks = {
            "day": "SELECT f.purchased_at::date FROM warehouse.fact_orders f"
            f" JOIN {o} USING (order_id)",
            "seller": "SELECT s.seller_id FROM warehouse.fact_order_items i"
            f" JOIN {o} USING (order_id) JOIN warehouse.dim_seller s USING (seller_key)"
            f" UNION SELECT seller_id FROM {self.sellers}",
            "state": "SELECT coalesce(c.state, 'unknown') FROM warehouse.fact_order_items i"
            f" JOIN {o} USING (order_id) LEFT JOIN warehouse.dim_customer c USING (customer_key)",
        }
        for kind, query in marks.items():
            incremental.mark(conn, "marts", kind, sql.SQL(query), run_id=run_id)


def build(
    spark: SparkSession,
    settings: Settings,
    upstream: Layer | None = None,
    affected: _Affected | None = None,
) -> dict[str, DataFrame]:
    """The warehouse tables from staging: ``upstream`` when it was just built, else JDBC.

    With ``affected`` (an increment), the rows of the affected keys only, and
    no ``dim_geolocation`` (it changes with staging.geolocation only, which
    makes a full build).
    """
    from pyspark.sql import functions as F

    def source(t: str) -> DataFrame:
        if affected is None and upstream is not None and t in upstream.frames:
            return upstream.frames[t]
        return read_table(
            spark,
            settings,
            f"staging.{t}" if affected is None else affected.source(t),
            # One JDBC connection per core for the tables of ~100k rows and up (an
            # increment's slices are small: one).
            parallel_on=None
            if t in SMALL_STAGING_TABLES or (affected is not None and t != "products")
            else "_row_number",
        )

    tables = TABLES if affected is None else [t for t in TABLES if t != "geolocation"]
    st = {t: source(t).cache() for t in tables}
    years = _years(settings)
    if affected is None:
        geo = dim_geolocation(st["geolocation"]).cache()
    else:
        geo = read_table(spark, settings, "warehouse.dim_geolocation").cache()
    customers, cust_map = dim_customer(st["customers"], st["orders"], geo)
    customers = customers.cache()
    cust_map = cust_map.cache()
    sellers = dim_seller(st["sellers"], geo).cache()
    products = dim_product(st["products"], st["category_translation"]).cache()
    if affected is None:
        return {
            "dim_date": spark.createDataFrame(calendar(*years), schema=_DATE_SCHEMA),
            "dim_geolocation": geo,
            "dim_customer": customers,
            "dim_seller": sellers,
            "dim_product": products,
            **facts(st, cust_map, products, sellers, years),
        }
    # An increment keeps dim_date as published: its years are unchanged (a change makes
    # a full build), so it would rewrite the same rows.
    out: dict[str, DataFrame] = {}
    if "customers" not in affected.empty:
        out["dim_customer"] = customers.filter(F.col("customer_key") != UNKNOWN)
    for name, dim, col, rel, kind in (
        ("dim_seller", sellers, "seller_id", affected.sellers, "sellers"),
        ("dim_product", products, "product_id", affected.products, "products"),
    ):
        if kind not in affected.empty:
            out[name] = dim.join(read_table(spark, settings, rel), col, "left_semi")
    if "orders" not in affected.empty:
        out.update(facts(st, cust_map, products, sellers, years))
    return out


def stats_of(writer: LayerWriter) -> Stats:
    """Rows, unknown-member references and money per published table (SQL)."""
    with connect(writer.settings, Role.TRANSFORMER, autocommit=True) as conn:
        columns: dict[str, list[str]] = {}
        for table, column in conn.execute(
            "SELECT table_name, column_name FROM information_schema.columns"
            " WHERE table_schema = 'warehouse' AND table_name = ANY(%s)"
            " ORDER BY table_name, ordinal_position",
            (list(WAREHOUSE_TABLES),),
        ).fetchall():
            columns.setdefault(table, []).append(column)
    stats: Stats = {}
    for name in WAREHOUSE_TABLES:
        exprs = {"rows": "count(*)"}
        for col in columns.get(name, ()):
            if col.endswith("_key") and name.startswith("fact_"):
                exprs[f"unknown_{col}"] = f"count(*) FILTER (WHERE {col} = {UNKNOWN})"
            if col in ("price", "freight_value", "payment_value") and name != "fact_orders":
                exprs[f"sum_{col}"] = f"coalesce(sum({col}), 0)"
        stats[name] = writer.aggregates(name, exprs, published=True)
    return stats


def build_and_publish(
    settings: Settings,
    run_id: str,
    spark: SparkSession,
    upstream: Layer | None = None,
    plan: incremental.Plan | None = None,
) -> tuple[Stats, Layer]:
    """Build the warehouse (from ``upstream`` staging when given) and publish it.

    An increment rebuilds the affected orders' facts, customers' SCD2 rows,
    and the marked sellers and products, and replaces exactly those rows;
    ``dim_date`` is kept (a change of the years it covers makes a full build,
    since facts outside them point at -1), and a key set with nothing in it
    writes nothing.

    Nothing stays cached: the marts read the warehouse back over JDBC. Handed
    over in memory, the marts' plans carried the whole lineage from raw, and
    Catalyst spent minutes re-analysing them against the cached frames.
    """
    p = plan or incremental.plan(settings, "warehouse")
    if not p.full and p.needs_spark and _built_years(settings) != _years(settings):
        p = incremental.Plan("warehouse", True, "the years of dim_date changed", p.batches)
    with step_run(settings, run_id, "transform.warehouse") as step:
        writer = LayerWriter(settings, "warehouse", run_id)
        affected: _Affected | None = None

        def before_publish(conn: Connection[Any]) -> None:
            if affected is not None:
                affected.mark_marts(conn, run_id)  # the old rows' days, sellers, states

        def after_publish(conn: Connection[Any]) -> None:
            if affected is None:
                incremental.mark_all(conn, "marts", run_id)
            else:
                affected.mark_marts(conn, run_id)  # the new rows'
            incremental.consume_dirty(conn, "warehouse")
            incremental.record_batches(conn, p, run_id)

        try:
            deletes: dict[str, sql.Composed] = {}
            if p.needs_spark:
                if not p.full:
                    affected = _Affected(writer)
                    deletes = {t: affected.delete(t) for t in WAREHOUSE_TABLES if t != "dim_date"}
                frames = build(spark, settings, upstream, affected)
                writer.write_all(frames, settings.spark.concurrent_jobs)
            writer.publish(deletes, before_publish, after_publish)
            stats = stats_of(writer)
        except BaseException:
            writer.discard()
            raise
        finally:
            spark.catalog.clearCache()
        record_stats(settings, run_id, "warehouse", stats)
        step["rows_out"] = int(sum(writer.rows.values()))
        step["detail"] = {
            "plan": p.describe(),
            "written": dict(writer.rows),
            "tables": {t: {"rows": s["rows"]} for t, s in stats.items()},
        }
    return stats, Layer({})
