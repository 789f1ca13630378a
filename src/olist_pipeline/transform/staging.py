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

from psycopg import Connection, sql

from olist_pipeline.config import Settings
from olist_pipeline.contracts.sources import CONTRACTS, Column, LogicalType, SourceContract
from olist_pipeline.logs import get_logger
from olist_pipeline.transform import expressions as X
from olist_pipeline.transform import incremental
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


def _stats_columns(contract: SourceContract, checked: set[str]) -> list[SparkColumn]:
    """The per-table numbers of ``stage`` as aggregate columns (over ``_status``)."""
    from pyspark.sql import functions as F

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
        if c.name in checked:
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
    return aggs


def stage(
    raw: DataFrame,
    contract: SourceContract,
    cached: list[DataFrame] | None = None,
    before: SparkColumn | None = None,
) -> tuple[DataFrame, dict[str, Any], dict[str, Any]]:
    """Typed, flagged, de-duplicated rows of one table, its stats, and its stats before.

    ``before`` selects the raw rows that existed before this increment: the
    same staging is then also computed over them alone (in the same Spark
    jobs, as a second pass keyed by ``_pass``) for the stats an increment
    subtracts; without it the "before" stats are empty. The returned rows are
    read from a cached frame, appended to ``cached``.
    """
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    raw = raw.withColumn("_pass", F.lit(1))
    if before is not None:
        raw = raw.unionByName(raw.filter(before).withColumn("_pass", F.lit(0)))

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
    df = raw.select(*typed, "_batch_id", "_row_number", "_version_at", "_pass")

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
    order = Window.partitionBy("_pass", *key_cols).orderBy(
        F.col("_version_at").desc(), F.col("_batch_id").desc(), F.col("_row_number").asc()
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

    kept = F.col("_status") == "kept"
    aggs = _stats_columns(contract, set(bad))
    passes = {r["_pass"]: r.asDict() for r in df.groupBy("_pass").agg(*aggs).collect()}
    if 1 not in passes:  # no rows: one row of empty aggregates, as a global agg gives
        empty = df.filter(F.lit(False)).agg(*aggs).first()
        assert empty is not None
        passes[1] = empty.asDict()
    stats, prior = passes[1], passes.get(0, {})
    for d in (stats, prior):
        d.pop("_pass", None)
    out = df.filter(kept & (F.col("_pass") == 1)).select(
        *[
            n
            for n in df.columns
            if not n.startswith(("_bad_", "_key")) and n not in ("_status", "_version_at", "_pass")
        ]
    )
    return out, stats, prior


ORDER_FLAGS = (
    "flag_approved_before_purchase",
    "flag_carrier_before_purchase",
    "flag_carrier_before_approval",
    "flag_delivered_before_approval",
    "flag_delivered_before_carrier",
    "flag_delivered_without_date",
    "flag_canceled_with_delivery",
)
# Counted in PostgreSQL on the published table after each run: no second Spark pass.
FLAG_COUNTS: dict[str, dict[str, str]] = {
    "orders": {f: f"count(*) FILTER (WHERE {f})" for f in (*ORDER_FLAGS, "has_lifecycle_anomaly")},
    "order_reviews": {
        "flag_answer_before_creation": "count(*) FILTER (WHERE flag_answer_before_creation)"
    },
    "geolocation": {"outside_brazil": "count(*) FILTER (WHERE NOT in_brazil)"},
}
# A change to these reaches every dimension: the table is rebuilt whole, and so is the warehouse.
SHARED_TABLES = frozenset({"geolocation", "category_translation"})
# What a changed row asks the warehouse to rebuild: (kind, column), from its old and new version.
MARKS: dict[str, tuple[tuple[str, str], ...]] = {
    "orders": (("order", "order_id"), ("customer", "customer_id")),
    "order_items": (("order", "order_id"),),
    "order_payments": (("order", "order_id"),),
    "order_reviews": (("order", "order_id"),),
    "customers": (("customer", "customer_id"), ("customer_unique", "customer_unique_id")),
    "sellers": (("seller", "seller_id"),),
    "products": (("product", "product_id"),),
}
# Counts that add up over increments (the rest are recounted).
NOT_ADDITIVE = frozenset({"batches"})


def _order_flags(df: DataFrame) -> DataFrame:
    from pyspark.sql import functions as F

    p, a = F.col("order_purchase_timestamp"), F.col("order_approved_at")
    c, d = F.col("order_delivered_carrier_date"), F.col("order_delivered_customer_date")
    s = F.col("order_status")
    flags = dict(
        zip(
            ORDER_FLAGS,
            (
                a < p,
                c < p,
                c < a,
                d < a,
                d < c,
                (s == "delivered") & d.isNull(),
                (s == "canceled") & d.isNotNull(),
            ),
            strict=True,
        )
    )
    for name, cond in flags.items():
        df = df.withColumn(name, F.coalesce(cond, F.lit(False)))
    return df.withColumn("has_lifecycle_anomaly", F.greatest(*[F.col(n) for n in flags]))


def _staged(
    raw: DataFrame,
    contract: SourceContract,
    cached: list[DataFrame],
    before: SparkColumn | None = None,
) -> tuple[DataFrame, dict[str, Any], dict[str, Any]]:
    """One table's staged rows, its stats and its stats before the increment (see ``stage``)."""
    from pyspark.sql import functions as F

    df, st, prior = stage(raw, contract, cached, before)
    if contract.table == "orders":
        df = _order_flags(df)
    elif contract.table == "order_reviews":
        df = df.withColumn(
            "flag_answer_before_creation",
            F.coalesce(
                F.col("review_answer_timestamp") < F.col("review_creation_date"), F.lit(False)
            ),
        )
    elif contract.table == "geolocation":
        df = df.withColumn(
            "in_brazil", X.in_brazil(F.col("geolocation_lat"), F.col("geolocation_lng"))
        )
    log.info("staged", table=contract.table, rows=st["rows"], duplicates=st["duplicates_removed"])
    return df, as_stats(st), as_stats(prior)


class _Slice:
    """One table's increment: the keys it rebuilds (and the batches it takes in)."""

    def __init__(self, writer: LayerWriter, contract: SourceContract, batches: tuple[str, ...]):
        self.table = contract.table
        # Every version of a key shares its first key column (an id, trimmed
        # when typed), so the rows of those ids are every version of the keys.
        self.column = contract.primary_key[0]
        self.keys = writer.key_table(
            self.table,
            sql.SQL(
                "SELECT DISTINCT btrim({c}) AS k FROM {t}"
                " WHERE _batch_id = ANY(%s) AND btrim({c}) <> ''"
            ).format(c=sql.Identifier(self.column), t=sql.Identifier("raw", self.table)),
            [list(batches)],
        )
        self.pending = writer.key_table(
            f"b_{self.table}", sql.SQL("SELECT unnest(%s::text[]) AS batch_id"), [list(batches)]
        )

    def where(self) -> str:
        """Raw rows of the increment: its batches, and every version of the keys they hold."""
        return (
            f"r._batch_id IN (SELECT batch_id FROM {self.pending})"
            f" OR btrim(r.{self.column}) IN (SELECT k FROM {self.keys})"
        )

    def delete(self) -> sql.Composed:
        return sql.SQL("DELETE FROM {} t USING {} k WHERE t.{} = k.k").format(
            sql.Identifier("staging", self.table),
            sql.Identifier(*self.keys.split(".")),
            sql.Identifier(self.column),
        )

    def mark(self, conn: Connection[Any], run_id: str) -> None:
        """Mark the warehouse keys of the table's rows for these ids (old or new rows)."""
        for kind, col in MARKS.get(self.table, ()):
            incremental.mark(
                conn,
                "warehouse",
                kind,
                sql.SQL("SELECT t.{} FROM {} t JOIN {} k ON t.{} = k.k").format(
                    sql.Identifier(col),
                    sql.Identifier("staging", self.table),
                    sql.Identifier(*self.keys.split(".")),
                    sql.Identifier(self.column),
                ),
                run_id=run_id,
            )


def build_and_publish(  # noqa: PLR0915 - one layer's build, bookkeeping and publish
    settings: Settings,
    run_id: str,
    spark: SparkSession,
    upstream: Layer | None = None,
    plan: incremental.Plan | None = None,
) -> tuple[Stats, Layer]:
    """Build staging, publish it; the published tables stay cached for the next layer.

    An increment rebuilds, per table, the keys its new batches hold from every
    raw version of them, and deletes and inserts those keys when it publishes.
    The numbers in ``audit.transform_stats`` stay whole-history totals (the
    quality gates reconcile them with raw): an increment adds the difference it
    made to the totals kept in ``audit.layer_totals``, and records its own
    part as ``increment_*`` metrics.
    """
    from pyspark.sql import functions as F

    del upstream  # raw is always read from PostgreSQL
    p = plan or incremental.plan(settings, "staging")
    with step_run(settings, run_id, "transform.staging") as step:
        writer = LayerWriter(settings, "staging", run_id)
        totals: dict[str, dict[str, Any]] = (
            {}
            if p.full
            else {t: dict(v) for t, v in incremental.read_totals(settings, "staging").items()}
        )
        increments: dict[str, dict[str, Any]] = {}
        slices: dict[str, _Slice] = {}
        whole: list[str] = []
        layer = Layer({})

        def build(contract: SourceContract) -> DataFrame:
            t = contract.table
            batches = p.batches.get(t, ())
            before = totals.get(t, {})
            if p.full or t in SHARED_TABLES or t in p.replaced or not contract.primary_key:
                df, st, _ = _staged(read_raw(spark, settings, t), contract, layer.cached)
                whole.append(t)
                after = st
            else:
                piece = _Slice(writer, contract, batches)
                raw = read_raw(spark, settings, t, where=piece.where()).cache()
                layer.cached.append(raw)
                df, st, old = _staged(
                    raw, contract, layer.cached, ~F.col("_batch_id").isin(*batches)
                )
                slices[t] = piece
                after = {
                    m: before.get(m, 0) + v - (old.get(m) or 0)
                    for m, v in st.items()
                    if m not in NOT_ADDITIVE
                }
                after["batches"] = before.get("batches", 0) + len(batches)
            totals[t] = {**before, **after}
            increments[t] = {
                "increment_batches": len(batches),
                "increment_raw_rows": after["raw_rows"] - before.get("raw_rows", 0),
                "increment_rows": after["rows"] - before.get("rows", 0),
            }
            layer.frames[t] = df
            return df

        def before_publish(conn: Connection[Any]) -> None:
            for piece in slices.values():
                piece.mark(conn, run_id)  # the old versions' keys

        def after_publish(conn: Connection[Any]) -> None:
            if whole:
                incremental.mark_all(conn, "warehouse", run_id)
            else:
                for piece in slices.values():
                    piece.mark(conn, run_id)  # the new versions' keys
            for table, exprs in FLAG_COUNTS.items():
                if table not in whole and table not in slices:
                    continue  # unchanged: its counts carry over in the totals
                select = sql.SQL(", ").join(
                    sql.SQL("{} AS {}").format(sql.SQL(e), sql.Identifier(n))
                    for n, e in exprs.items()
                )
                row = conn.execute(
                    sql.SQL("SELECT {} FROM {}").format(select, sql.Identifier("staging", table))
                ).fetchone()
                assert row is not None
                totals.setdefault(table, {}).update(zip(exprs, row, strict=True))
            incremental.record_batches(conn, p, run_id)
            incremental.write_totals(conn, "staging", run_id, totals)

        try:
            jobs = {c.table: partial(build, c) for c in CONTRACTS if p.rebuilds(c.table)}
            for c in CONTRACTS:  # header-only batches: counted, nothing to stage
                if c.table not in jobs and p.batches.get(c.table):
                    t = totals.setdefault(c.table, {})
                    t["batches"] = t.get("batches", 0) + len(p.batches[c.table])
            writer.write_all(jobs, settings.spark.concurrent_jobs)
            writer.publish(
                {t: piece.delete() for t, piece in slices.items()}, before_publish, after_publish
            )
        except BaseException:
            writer.discard()
            layer.release()
            raise
        stats: Stats = {}
        for c in CONTRACTS:
            zero = {"increment_batches": 0, "increment_raw_rows": 0, "increment_rows": 0}
            stats[c.table] = {**totals.get(c.table, {}), **increments.get(c.table, zero)}
        record_stats(settings, run_id, "staging", stats)
        step["rows_in"] = int(sum(s["increment_raw_rows"] for s in stats.values()))
        step["rows_out"] = int(sum(writer.rows.values()))
        step["detail"] = {
            "plan": p.describe(),
            "tables": {
                t: {
                    k: s.get(k, 0)
                    for k in ("raw_rows", "rows", "duplicates_removed", "rejected_null_key")
                }
                | increments.get(t, {})
                for t, s in stats.items()
            },
            "rebuilt_whole": whole,
            "sliced": sorted(slices),
        }
    return stats, layer
