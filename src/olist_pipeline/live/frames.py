"""The live job's Spark side: contracts on the executors, the micro-batch aggregated in Spark.

- :func:`parse_partition` runs the consumers' contract code
  (:class:`~olist_pipeline.live.events.Parser`) inside ``mapInArrow`` on the
  executors: each Kafka record becomes one row, valid or carrying its error
  class, so nothing but aggregates and event ids reaches the driver.
- :class:`SparkBatch` is one micro-batch of those rows as the sink needs it
  inside its PostgreSQL transaction: the invalid counts, the event ids (the
  exactly-once ledger is in PostgreSQL, so the ids must cross), the late
  events whole, and the aggregates of the on-time events by event-time
  minute, computed by Spark:

  * per minute: orders created, payments, payment value (paid GMV);
  * per order: its purchase minute, customer, highest sequence and its
    stage, the input of the stage moves (see ``live.sink`` for why those
    stay in PostgreSQL);
  * per minute and order: payments and value, the input of the per-state
    split (the events carry the order, the state is in ``staging.customers``).

Times cross as epoch microseconds (minutes as epoch seconds): PySpark turns
a collected timestamp into a naive datetime in the driver's local zone.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Any

from olist_pipeline.live.events import LiveEvent, Parser
from olist_pipeline.stream.validation import DEFAULT_MAX_EVENT_BYTES

if TYPE_CHECKING:
    import pyarrow as pa
    from pyspark.sql import DataFrame

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
CENT = Decimal("0.01")

PARSED_SCHEMA = (
    "event_id string, stream string, event_type string, order_id string, sequence int, "
    "occurred_us bigint, produced_us bigint, order_status string, customer_id string, "
    "payment_value decimal(12,2), document string, error_class string"
)
_FIELDS = [f.strip().split(" ")[0] for f in PARSED_SCHEMA.split(", ")]


def micros(ts: datetime) -> int:
    return (ts - EPOCH) // timedelta(microseconds=1)


def from_micros(us: int) -> datetime:
    return EPOCH + timedelta(microseconds=us)


def _arrow_schema() -> pa.Schema:
    import pyarrow as pa

    return pa.schema(
        [
            ("event_id", pa.string()),
            ("stream", pa.string()),
            ("event_type", pa.string()),
            ("order_id", pa.string()),
            ("sequence", pa.int32()),
            ("occurred_us", pa.int64()),
            ("produced_us", pa.int64()),
            ("order_status", pa.string()),
            ("customer_id", pa.string()),
            ("payment_value", pa.decimal128(12, 2)),
            ("document", pa.string()),
            ("error_class", pa.string()),
        ]
    )


def _row(item: LiveEvent | str) -> tuple[Any, ...]:
    if isinstance(item, str):
        return (None,) * (len(_FIELDS) - 1) + (item,)
    value = item.payment_value
    return (
        item.event_id, item.stream, item.event_type, item.order_id, item.sequence,
        micros(item.occurred_at), micros(item.produced_at), item.order_status,
        item.customer_id,
        # numeric(12, 2) in PostgreSQL rounds half away from zero; so does this.
        None if value is None else value.quantize(CENT, rounding=ROUND_HALF_UP),
        item.document, None,
    )  # fmt: skip


def parse_partition(
    topics: dict[str, str], max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES
) -> Callable[[Iterable[pa.RecordBatch]], Iterator[pa.RecordBatch]]:
    """The ``mapInArrow`` function: (topic, value) record batches to :data:`PARSED_SCHEMA`."""

    def run(batches: Iterable[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        import pyarrow as pa

        schema = _arrow_schema()
        parser = Parser(topics, max_event_bytes)
        for batch in batches:
            rows = [
                _row(parser.classify(topic, value))
                for topic, value in zip(
                    batch.column("topic").to_pylist(),
                    batch.column("value").to_pylist(),
                    strict=True,
                )
            ]
            columns = list(zip(*rows, strict=True)) if rows else [()] * len(_FIELDS)
            yield pa.RecordBatch.from_arrays(
                [pa.array(c, type=f.type) for c, f in zip(columns, schema, strict=True)],
                schema=schema,
            )

    return run


def parse(raw: DataFrame, topics: dict[str, str]) -> DataFrame:
    """Kafka records (streaming or not) to parsed rows, on the executors."""
    return raw.select("topic", "value").mapInArrow(parse_partition(topics), PARSED_SCHEMA)


@dataclass(frozen=True)
class EventKey:
    event_id: str
    occurred_us: int
    produced_us: int


@dataclass(frozen=True)
class Aggregates:
    # (minute epoch s, orders created, payments, payment value)
    minutes: list[tuple[int, int, int, Decimal]]
    # (order_id, purchase minute epoch s | None, customer_id, highest sequence, its stage)
    orders: list[tuple[str, int | None, str | None, int, str]]
    # (minute epoch s, order_id, payments, payment value)
    order_payments: list[tuple[int, str, int, Decimal]]


_SHAPE = {
    "minute": "bigint",
    "key": "string",
    "customer_id": "string",
    "a": "bigint",
    "b": "bigint",
    "value": "decimal(22,2)",
    "stage": "string",
}


def _shape(df: DataFrame, kind: str, **cols: Any) -> DataFrame:
    """``df`` as the one row shape of :meth:`SparkBatch.aggregate`'s result (NULL elsewhere;
    ``a``/``b``/``value`` default to 0 so that sums over a mix stay numbers)."""
    from pyspark.sql import Column
    from pyspark.sql import functions as F

    zero = {"a": 0, "b": 0, "value": Decimal(0)}
    picked = []
    for name, kind_of in _SHAPE.items():
        given = cols.get(name)
        if given is None:
            col: Column = F.lit(zero.get(name))
        else:
            col = F.col(given) if isinstance(given, str) else given
        picked.append(col.cast(kind_of).alias(name))
    return df.select(F.lit(kind).alias("kind"), *picked)


class SparkBatch:
    """One micro-batch of parsed rows (:data:`PARSED_SCHEMA`); cache it before use."""

    def __init__(self, df: DataFrame) -> None:
        from pyspark.sql import functions as F

        self.df = df
        self.valid = df.where(F.col("error_class").isNull())
        self.invalid_counts: dict[str, int] = {}  # by error class, once invalid() ran
        self._keys: list[EventKey] | None = None

    def _scan(self) -> list[EventKey]:
        """One Spark job for the ids and the invalid counts (the first over the batch: it reads
        Kafka and runs the contracts, the cache keeps the result for the others)."""
        if self._keys is None:
            counts: Counter[str] = Counter()
            keys: list[EventKey] = []
            cols = ("event_id", "occurred_us", "produced_us", "error_class")
            for r in self.df.select(*cols).collect():
                if r[3] is None:
                    keys.append(EventKey(str(r[0]), int(r[1]), int(r[2])))
                else:
                    counts[str(r[3])] += 1
            self._keys, self.invalid_counts = keys, dict(counts)
        return self._keys

    def invalid(self) -> dict[str, int]:
        self._scan()
        return self.invalid_counts

    def keys(self) -> list[EventKey]:
        return self._scan()

    def _fresh(self, exclude: Sequence[str]) -> DataFrame:
        from pyspark.sql import functions as F

        fresh = self.valid
        keys = self._scan()
        if len({k.event_id for k in keys}) < len(keys):
            # Copies inside the batch (a producer retry): one shuffle more, only then.
            fresh = fresh.dropDuplicates(["event_id"])
        if exclude:
            spark = self.df.sparkSession
            gone = spark.createDataFrame([(i,) for i in exclude], "event_id string")
            fresh = fresh.join(F.broadcast(gone), "event_id", "left_anti")
        return fresh

    def late_rows(self, ids: Sequence[str]) -> list[tuple[str, str, str, int, str]]:
        """(event_id, event_type, order_id, occurred_us, document) of these events."""
        from pyspark.sql import functions as F

        rows = (
            self.valid.where(F.col("event_id").isin(list(ids)))
            .dropDuplicates(["event_id"])
            .select("event_id", "event_type", "order_id", "occurred_us", "document")
            .collect()
        )
        return [(str(r[0]), str(r[1]), str(r[2]), int(r[3]), str(r[4])) for r in rows]

    def aggregate(self, exclude: Sequence[str], watermark_us: int | None) -> Aggregates:
        """The on-time events' aggregates: not in ``exclude`` (already applied), not late."""
        from pyspark.sql import functions as F

        fresh = self._fresh(exclude)
        if watermark_us is not None:
            fresh = fresh.where(F.col("occurred_us") >= F.lit(watermark_us))
        fresh = fresh.withColumn("minute", F.expr("(occurred_us div 60000000) * 60"))
        orders = (
            fresh.where(F.col("stream") == "orders")
            .groupBy("order_id")
            .agg(
                F.min(F.when(F.col("sequence") == 1, F.col("minute"))).alias("minute"),
                F.max("customer_id").alias("customer_id"),
                F.max("sequence").alias("seq"),
                F.max_by("order_status", "sequence").alias("stage"),
            )
        )
        payments = (
            fresh.where(F.col("stream") == "payments")
            .groupBy("minute", "order_id")
            .agg(F.count("*").alias("payments"), F.sum("payment_value").alias("value"))
        )
        minutes = (
            _shape(orders.where(F.col("minute").isNotNull()), "m", minute="minute", a=F.lit(1))
            .unionByName(_shape(payments, "m", minute="minute", b="payments", value="value"))
            .groupBy("kind", "minute")
            .agg(F.sum("a").alias("a"), F.sum("b").alias("b"), F.sum("value").alias("value"))
        )
        # One Spark job for the three (one row shape, a kind tag): each action over a
        # micro-batch costs a job's scheduling, and the plans of the orders and payments
        # are shared (their exchanges reused).
        rows = (
            _shape(minutes, "m", minute="minute", a="a", b="b", value="value")
            .unionByName(_shape(orders, "o", minute="minute", key="order_id",
                                customer_id="customer_id", a="seq", stage="stage"))
            .unionByName(_shape(payments, "p", minute="minute", key="order_id", a="payments",
                                value="value"))
        ).collect()  # fmt: skip
        out = Aggregates(minutes=[], orders=[], order_payments=[])
        for r in rows:
            if r["kind"] == "m":
                out.minutes.append(
                    (int(r["minute"]), int(r["a"]), int(r["b"]), Decimal(r["value"]))
                )
            elif r["kind"] == "o":
                minute = None if r["minute"] is None else int(r["minute"])
                out.orders.append(
                    (str(r["key"]), minute, r["customer_id"], int(r["a"]), r["stage"])
                )
            else:
                out.order_payments.append(
                    (int(r["minute"]), str(r["key"]), int(r["a"]), Decimal(r["value"]))
                )
        return out
