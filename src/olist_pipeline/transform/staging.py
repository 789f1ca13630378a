"""raw -> staging: type, trim, standardise and de-duplicate every source table.

For each table (driven by its source contract):

- every raw batch is read; text is trimmed and empty strings become NULL;
- values are typed by logical type (ids checked against 32 lowercase hex,
  ints, money as numeric(12,2), floats, timestamps as wall-clock
  ``timestamp``, zip prefixes zero-padded to 5 chars, states upper-cased and
  checked, enums lower-cased and checked). A value that cannot be typed or is
  not an accepted value becomes NULL and its column is named in
  ``invalid_fields``; the count per column is recorded in
  ``audit.transform_stats`` (metric ``invalid_<column>``);
- duplicates by natural key (the contract's primary key; the whole row for
  geolocation, which has none) are removed: the newest batch wins (by
  ``_loaded_at``, then ``_batch_id``), then the lowest ``_row_number``.
  Metric ``duplicates_removed``. Rows whose key cannot be typed are rejected
  (metric ``rejected_null_key``) since a key-less row cannot be de-duplicated;
- city names are normalised (``rules.normalise_city``) with the original kept
  in ``<x>_city_raw``; geolocation points outside Brazil are flagged
  (``in_brazil``);
- orders get lifecycle flags (contradictory timestamps) and reviews an
  answer-before-creation flag. Nothing is dropped for a flag.

Money is reconciled: for each money column the stats hold the raw sum
(``raw_sum_<col>``), the kept sum (``sum_<col>``) and the dropped one
(``dropped_sum_<col>``: duplicates and rejected rows), with raw = kept + dropped.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Any

from olist_pipeline.config import Settings
from olist_pipeline.contracts.sources import CONTRACTS, Column, LogicalType, SourceContract
from olist_pipeline.logs import get_logger
from olist_pipeline.transform import expressions as X
from olist_pipeline.transform.io import (
    Layer,
    LayerWriter,
    Stats,
    as_stats,
    read_raw,
    record_stats,
    step_run,
)

if TYPE_CHECKING:
    from pyspark.sql import Column as SparkColumn
    from pyspark.sql import DataFrame, SparkSession

log = get_logger(__name__)

ID_PATTERN = r"^[0-9a-f]{32}$"
CITY_COLUMNS = {"customer_city", "geolocation_city", "seller_city"}


def _typed(c: Column) -> tuple[SparkColumn, bool]:
    """(typed value, whether a present raw value can turn out invalid)."""
    from pyspark.sql import functions as F

    raw = F.col(c.name)
    t = c.type
    value: SparkColumn
    if t is LogicalType.ID:
        return X.blank_to_null(raw), True  # kept as text (it is the key), but checked
    if t is LogicalType.TEXT:
        if c.name in CITY_COLUMNS:
            return X.city(raw), True
        return X.blank_to_null(raw), False
    if t is LogicalType.INT:
        value = X.integer(raw)
    elif t is LogicalType.MONEY:
        value = X.money(raw)
    elif t is LogicalType.FLOAT:
        value = X.double(raw)
    elif t is LogicalType.TIMESTAMP:
        value = X.timestamp(raw)
    elif t is LogicalType.ZIP:
        value = X.zip_prefix(raw)
    elif t is LogicalType.STATE:
        value = F.upper(X.blank_to_null(raw))
    elif t is LogicalType.ENUM:
        value = F.lower(X.blank_to_null(raw))
    else:  # pragma: no cover - a new logical type must be handled here
        raise ValueError(f"no staging rule for {t}")
    if c.accepted:
        value = F.when(value.cast("string").isin(*c.accepted), value)
    return value, True


def stage(
    raw: DataFrame, contract: SourceContract, cached: list[DataFrame] | None = None
) -> tuple[DataFrame, dict[str, Any]]:
    """Typed, flagged, de-duplicated rows of one table, and its stats.

    The returned rows are read from a cached frame, appended to ``cached``.
    """
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    # Pass 1: type every column once; remember which raw values were present.
    typed: list[SparkColumn] = []
    checked: list[Column] = []
    for c in contract.columns:
        value, can_fail = _typed(c)
        typed.append(value.alias(c.name))
        if c.name in CITY_COLUMNS:
            typed.append(X.blank_to_null(F.col(c.name)).alias(f"{c.name}_raw"))
        if can_fail:
            checked.append(c)
            typed.append(X.blank_to_null(F.col(c.name)).isNotNull().alias(f"_p_{c.name}"))
    df = raw.select(*typed, "_batch_id", "_row_number", "_loaded_at")

    # Pass 2: a present value that typed to NULL (or an id that is not 32 hex) is invalid.
    bad: dict[str, SparkColumn] = {}
    for c in checked:
        if c.type is LogicalType.ID:
            bad[c.name] = F.col(c.name).isNotNull() & ~F.col(c.name).rlike(ID_PATTERN)
        else:
            bad[c.name] = F.col(f"_p_{c.name}") & F.col(c.name).isNull()
    invalid = F.concat_ws(",", *[F.when(b, F.lit(n)) for n, b in bad.items()]) if bad else F.lit("")
    df = df.select(
        *[F.col(n) for n in df.columns if not n.startswith("_p_")],
        *[b.alias(f"_bad_{n}") for n, b in bad.items()],
        F.when(invalid != "", invalid).cast("string").alias("invalid_fields"),
    )
    if contract.primary_key:
        key = [F.col(k) for k in contract.primary_key]
    else:  # no natural key: exact duplicates of the typed row
        key = [F.col(c.name) for c in contract.columns]
    key_cols = [f"_key{i}" for i in range(len(key))]
    df = df.select("*", *[k.alias(n) for k, n in zip(key, key_cols, strict=True)])
    order = Window.partitionBy(*key_cols).orderBy(
        F.col("_loaded_at").desc(), F.col("_batch_id").desc(), F.col("_row_number").asc()
    )
    null_key = (
        F.lit(False)
        if not contract.primary_key
        else F.greatest(*[F.col(k).isNull() for k in key_cols], F.lit(False))
    )
    df = df.withColumn(
        "_status",
        F.when(null_key, "rejected")
        .when(F.row_number().over(order) == 1, "kept")
        .otherwise("duplicate"),
    ).cache()
    (cached if cached is not None else []).append(df)

    money = [c.name for c in contract.columns if c.type is LogicalType.MONEY]
    kept = F.col("_status") == "kept"
    aggs = [
        F.count(F.lit(1)).alias("raw_rows"),
        F.sum(kept.cast("int")).alias("rows"),
        F.sum((F.col("_status") == "duplicate").cast("int")).alias("duplicates_removed"),
        F.sum((F.col("_status") == "rejected").cast("int")).alias("rejected_null_key"),
        F.countDistinct("_batch_id").alias("batches"),
    ]
    for c in contract.columns:
        if c.name in bad:
            aggs.append(
                F.sum((kept & F.col(f"_bad_{c.name}")).cast("int")).alias(f"invalid_{c.name}")
            )
        if not c.nullable:
            aggs.append(F.sum((kept & F.col(c.name).isNull()).cast("int")).alias(f"null_{c.name}"))
    for m in money:
        aggs += [
            F.sum(F.col(m)).alias(f"raw_sum_{m}"),
            F.sum(F.when(kept, F.col(m))).alias(f"sum_{m}"),
            F.sum(F.when(~kept, F.col(m))).alias(f"dropped_sum_{m}"),
        ]
    stats = df.agg(*aggs).first()
    assert stats is not None
    out = df.filter(kept).select(
        *[
            n
            for n in df.columns
            if not n.startswith(("_bad_", "_key")) and n not in ("_status", "_loaded_at")
        ]
    )
    return out, stats.asDict()


def _order_flags(df: DataFrame) -> tuple[DataFrame, list[str]]:
    from pyspark.sql import functions as F

    p, a = F.col("order_purchase_timestamp"), F.col("order_approved_at")
    c, d = F.col("order_delivered_carrier_date"), F.col("order_delivered_customer_date")
    s = F.col("order_status")
    flags = {
        "flag_approved_before_purchase": a < p,
        "flag_carrier_before_purchase": c < p,
        "flag_carrier_before_approval": c < a,
        "flag_delivered_before_approval": d < a,
        "flag_delivered_before_carrier": d < c,
        "flag_delivered_without_date": (s == "delivered") & d.isNull(),
        "flag_canceled_with_delivery": (s == "canceled") & d.isNotNull(),
    }
    for name, cond in flags.items():
        df = df.withColumn(name, F.coalesce(cond, F.lit(False)))
    df = df.withColumn("has_lifecycle_anomaly", F.greatest(*[F.col(n) for n in flags]))
    return df, [*flags, "has_lifecycle_anomaly"]


def _staged(
    spark: SparkSession, settings: Settings, contract: SourceContract, cached: list[DataFrame]
) -> tuple[DataFrame, dict[str, Any], list[str]]:
    """One table's staged rows, its stats and the names of its flag columns."""
    from pyspark.sql import functions as F

    df, st = stage(read_raw(spark, settings, contract.table), contract, cached)
    flags: list[str] = []
    if contract.table == "orders":
        df, flags = _order_flags(df)
    elif contract.table == "order_reviews":
        df = df.withColumn(
            "flag_answer_before_creation",
            F.coalesce(
                F.col("review_answer_timestamp") < F.col("review_creation_date"), F.lit(False)
            ),
        )
        flags = ["flag_answer_before_creation"]
    elif contract.table == "geolocation":
        df = df.withColumn(
            "in_brazil", X.in_brazil(F.col("geolocation_lat"), F.col("geolocation_lng"))
        )
    log.info("staged", table=contract.table, rows=st["rows"], duplicates=st["duplicates_removed"])
    return df, as_stats(st), flags


def run(settings: Settings, run_id: str, spark: SparkSession | None = None) -> Stats:
    """Build staging from all raw batches and publish it as one swap."""
    from olist_pipeline.transform.spark import spark_session

    stats, layer = build_and_publish(
        settings, run_id, spark or spark_session(settings, f"olist-staging-{run_id}")
    )
    layer.release()
    return stats


def build_and_publish(
    settings: Settings, run_id: str, spark: SparkSession, upstream: Layer | None = None
) -> tuple[Stats, Layer]:
    """Build staging, publish it; the published tables stay cached for the next layer."""
    del upstream  # raw is always read from PostgreSQL
    with step_run(settings, run_id, "transform.staging") as step:
        writer = LayerWriter(settings, "staging", run_id)
        stats: Stats = {}
        flags: dict[str, list[str]] = {}
        layer = Layer({})

        def build(contract: SourceContract) -> DataFrame:
            df, stats[contract.table], flags[contract.table] = _staged(
                spark, settings, contract, layer.cached
            )
            layer.frames[contract.table] = df
            return df

        try:
            jobs = {c.table: partial(build, c) for c in CONTRACTS}
            writer.write_all(jobs, settings.spark.concurrent_jobs)
            for table in writer.written:
                # Flags counted in PostgreSQL on what was written: no second Spark pass.
                exprs = {f: f"count(*) FILTER (WHERE {f})" for f in flags[table]}
                if table == "geolocation":
                    exprs["outside_brazil"] = "count(*) FILTER (WHERE NOT in_brazil)"
                stats[table].update(writer.aggregates(table, exprs))
            writer.publish()
        except BaseException:
            writer.discard()
            layer.release()
            raise
        stats = {c.table: stats[c.table] for c in CONTRACTS}
        record_stats(settings, run_id, "staging", stats)
        step["rows_in"] = int(sum(s["raw_rows"] for s in stats.values()))
        step["rows_out"] = int(sum(writer.rows.values()))
        step["detail"] = {
            t: {k: s[k] for k in ("raw_rows", "rows", "duplicates_removed", "rejected_null_key")}
            for t, s in stats.items()
        }
    return stats, layer
