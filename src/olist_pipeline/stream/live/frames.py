"""The live job's Spark side: contracts on the executors, the micro-batch aggregated in Spark.

- :func:`parse_partition` runs the consumers' contract code
  (:class:`~olist_pipeline.stream.live.events.Parser`) inside ``mapInArrow`` on the
  executors: each Kafka record becomes one row, valid or carrying its error
  class, so nothing but aggregates and event ids reaches the driver.
- :class:`SparkBatch` is one micro-batch of those rows as the sink needs it
  inside its PostgreSQL transaction: the invalid counts, the event ids (the
  exactly-once ledger is in PostgreSQL, so the ids must cross), the late
  events whole, and the aggregates of the on-time events by event-time
  minute, computed by Spark:

  * per minute: orders created, payments, payment value (paid GMV);
  * per order: its purchase minute, customer, highest sequence and its
    stage, the input of the stage moves (see ``stream.live.sink`` for why those
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

from olist_pipeline.stream.live.events import LiveEvent, Parser
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


# The micro-batch's aggregates as one statement: building the same plan through the DataFrame
# API cost ~0.25 s of Py4J calls per micro-batch, more than running it. {fresh} is the on-time
# events not yet applied. Every branch has one row shape with a kind tag, so the three results
# cross to the driver together.
_WITH = """
WITH fresh AS (
    SELECT *, (occurred_us div 60000000) * 60 AS minute FROM {fresh}
),
orders AS (
    SELECT order_id,
           min(CASE WHEN sequence = 1 THEN minute END) AS minute,
           max(customer_id) AS customer_id,
           max(sequence) AS seq,
           max_by(order_status, sequence) AS stage
    FROM fresh WHERE stream = 'orders' GROUP BY order_id
),
payments AS (
    SELECT minute, order_id, count(*) AS payments, sum(payment_value) AS value
    FROM fresh WHERE stream = 'payments' GROUP BY minute, order_id
),
minutes AS (
    SELECT minute, sum(a) AS a, sum(b) AS b, sum(value) AS value FROM (
        SELECT minute, 1L AS a, 0L AS b, CAST(0 AS decimal(22, 2)) AS value
        FROM orders WHERE minute IS NOT NULL
        UNION ALL
        SELECT minute, 0L, payments, value FROM payments
    ) GROUP BY minute
)
"""
_AGGREGATES = """
SELECT 'm' AS kind, minute, CAST(NULL AS string) AS key, CAST(NULL AS string) AS text,
       a, b, CAST(value AS decimal(22, 2)) AS value, CAST(NULL AS string) AS stage
FROM minutes
UNION ALL
SELECT 'o', minute, order_id, customer_id, CAST(seq AS bigint), 0L, CAST(0 AS decimal(22, 2)),
       stage
FROM orders
UNION ALL
SELECT 'p', minute, order_id, NULL, payments, 0L, CAST(value AS decimal(22, 2)), NULL
FROM payments
"""
_AGGREGATE = _WITH + _AGGREGATES


def _aggregates(rows: Iterable[tuple[Any, ...]]) -> Aggregates:
    out = Aggregates(minutes=[], orders=[], order_payments=[])
    for kind, minute, key, text, a, b, value, stage in rows:
        if kind == "m":
            out.minutes.append((minute, a, b, value))
        elif kind == "o":
            out.orders.append((key, minute, text, a, stage))
        elif kind == "p":
            out.order_payments.append((minute, key, a, value))
    return out


def _columns(df: DataFrame) -> list[list[Any]]:
    # Arrow, not Rows: a list per column instead of a Row object per record.
    table = df.toArrow()
    return [table.column(i).to_pylist() for i in range(table.num_columns)]


def _rows(df: DataFrame) -> Iterator[tuple[Any, ...]]:
    return zip(*_columns(df), strict=True)


class SparkBatch:
    """One micro-batch of parsed rows (:data:`PARSED_SCHEMA`); cache it before use."""

    def __init__(self, df: DataFrame) -> None:
        from pyspark.sql import functions as F

        self.df = df
        self.valid = df.where(F.col("error_class").isNull())
        self.invalid_counts: dict[str, int] = {}  # by error class, set by keys()
        self._keys: list[EventKey] | None = None

    def keys(self) -> list[EventKey]:
        """The valid events' keys, and the invalid counts by error class: the first Spark job
        over the batch (it reads Kafka and runs the contracts; the cache keeps the result).

        Merging it with the aggregates into one job was measured slower: the five branches of
        that job each read Kafka and ran the contracts again (five times the input rows in
        the query's progress, 1.2 s against 0.5 s per 5,000 events)."""
        if self._keys is None:
            cols = ("event_id", "occurred_us", "produced_us", "error_class")
            ids, occurred, produced, errors = _columns(self.df.select(*cols))
            self._keys = [
                EventKey(i, o, p)
                for i, o, p, e in zip(ids, occurred, produced, errors, strict=True)
                if e is None
            ]
            self.invalid_counts = dict(Counter(e for e in errors if e is not None))
        return self._keys

    def invalid(self) -> dict[str, int]:
        """By error class (the same Spark job as :meth:`keys`, run once)."""
        self.keys()
        return self.invalid_counts

    def _fresh(self, exclude: Sequence[str]) -> DataFrame:
        from pyspark.sql import functions as F

        fresh = self.valid
        keys = self.keys()
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
        return _aggregates(_rows(self.df.sparkSession.sql(_AGGREGATE, fresh=fresh)))
