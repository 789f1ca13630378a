"""The exactly-once PostgreSQL sink: a batch of events and its offsets, one transaction.

Events are inserted ``ON CONFLICT (event_id) DO NOTHING`` (duplicates from
producer retries, replays or a second group member are absorbed), and the
next offset per partition is upserted in the same transaction, never moving
backwards. The batch is COPied into a per-connection temporary table
(``ON COMMIT DELETE ROWS``, created once per connection), each document parsed
into jsonb once, and then inserted into the stream table with one
``INSERT ... SELECT ... ON CONFLICT`` statement: COPY is about ten times
faster than passing the batch as array parameters.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import psycopg

from olist_pipeline.config import Role, Settings
from olist_pipeline.db import connect

_COMMON_COLUMNS = (
    "event_id, event_type, schema_version, order_id, {seq}, occurred_at, produced_at, "
    "{extra}, event, kafka_topic, kafka_partition, kafka_offset"
)
_COMMON_VALUES = (
    "(d->>'event_id')::uuid, d->>'event_type', (d->>'schema_version')::smallint, "
    "d->>'order_id', (d->>'sequence')::integer, (d->>'occurred_at')::timestamptz, "
    "(d->>'produced_at')::timestamptz, {extra}, d, %(topic)s, p, o"
)
_TABLES: dict[str, tuple[str, str, str, str]] = {
    # stream: (table, sequence column, extra columns, extra values)
    "orders": (
        "staging.order_events",
        "sequence",
        "order_status, customer_id",
        "d->'payload'->>'order_status', d->'payload'->>'customer_id'",
    ),
    "payments": (
        "staging.payment_events",
        "payment_sequential",
        "payment_type, payment_installments, payment_value",
        "d->'payload'->>'payment_type', (d->'payload'->>'payment_installments')::integer, "
        "(d->'payload'->>'payment_value')::numeric(12, 2)",
    ),
}

OFFSETS_SQL = """
INSERT INTO audit.stream_offsets AS o (consumer_group, topic, partition, next_offset)
SELECT %(group)s, %(topic)s, t.p, t.o
FROM unnest(%(parts)s::integer[], %(offs)s::bigint[]) AS t(p, o)
ON CONFLICT (consumer_group, topic, partition) DO UPDATE
    SET next_offset = GREATEST(o.next_offset, EXCLUDED.next_offset), updated_at = now()
"""


# Per-connection scratch table: the batch is COPied here (each document parsed
# into jsonb once), then inserted with ON CONFLICT in one statement (COPY is
# ~10x faster than array parameters).
BATCH_TABLE = "pg_temp.stream_batch"
CREATE_BATCH_TABLE = (
    f"CREATE TEMP TABLE IF NOT EXISTS {BATCH_TABLE.split('.')[1]} "
    "(d jsonb NOT NULL, p integer NOT NULL, o bigint NOT NULL) ON COMMIT DELETE ROWS"
)


def insert_sql(stream: str) -> str:
    table, seq, extra_cols, extra_vals = _TABLES[stream]
    columns = _COMMON_COLUMNS.format(seq=seq, extra=extra_cols)
    values = _COMMON_VALUES.format(extra=extra_vals)
    return (
        f"INSERT INTO {table} ({columns}) SELECT {values} "
        f"FROM {BATCH_TABLE} AS m "
        "ON CONFLICT (event_id) DO NOTHING"
    )


def table_for(stream: str) -> str:
    return _TABLES[stream][0]


@dataclass(frozen=True, slots=True)
class Row:
    doc: str  # the event's JSON text, already validated
    partition: int
    offset: int


# Errors after which retrying the same statement may succeed.
TRANSIENT_ERRORS: tuple[type[Exception], ...] = (psycopg.OperationalError, psycopg.InterfaceError)
# Errors caused by the data itself: find the rows and dead-letter them.
DATA_ERRORS: tuple[type[Exception], ...] = (psycopg.DataError, psycopg.IntegrityError)


class PostgresSink:
    def __init__(self, settings: Settings, stream: str, connect_timeout: int = 5) -> None:
        self.settings = settings
        self.stream = stream
        self.connect_timeout = connect_timeout
        self._insert = insert_sql(stream)
        self._conn: psycopg.Connection[Any] | None = None

    @property
    def conn(self) -> psycopg.Connection[Any]:
        if self._conn is None or self._conn.closed:
            conn = connect(self.settings, Role.STREAM, connect_timeout=self.connect_timeout)
            with conn.transaction():
                conn.execute(CREATE_BATCH_TABLE)
            self._conn = conn
        return self._conn

    def reset(self) -> None:
        """Drop the connection after an error; the next use reconnects."""
        if self._conn is not None:
            # Closing a broken connection may fail; it is gone either way.
            with contextlib.suppress(Exception):
                self._conn.close()
        self._conn = None

    def close(self) -> None:
        self.reset()

    def ping(self) -> None:
        with self.conn.transaction():
            self.conn.execute("SELECT 1")

    def stored_offsets(self, group: str, topic: str, partitions: Sequence[int]) -> dict[int, int]:
        with self.conn.transaction():
            rows = self.conn.execute(
                "SELECT partition, next_offset FROM audit.stream_offsets "
                "WHERE consumer_group = %s AND topic = %s AND partition = ANY(%s)",
                (group, topic, list(partitions)),
            ).fetchall()
        return {int(p): int(o) for p, o in rows}

    def write(
        self, group: str, topic: str, rows: Sequence[Row], next_offsets: dict[int, int]
    ) -> int:
        """Insert ``rows`` and store ``next_offsets`` atomically. Returns rows inserted."""
        # synchronous_commit stays on for this session. Rows and offsets share
        # the transaction, so a commit lost with synchronous_commit=off would
        # vanish whole; but the consumer keeps fetching from where it is after a
        # reconnect (it rewinds to the stored offsets only on assignment), so
        # the batches lost in a server crash would never be read again. Nor was
        # the commit what made the latency tail of `make bench BENCH=stream`:
        # with it off the start-up stalls stayed (the producer id, the fetch
        # backoff; see stream/kafka.py and stream/producer.py).
        inserted = 0
        with self.conn.transaction():
            if rows:
                inserted = self._insert_rows(topic, rows)
            if next_offsets:
                parts = sorted(next_offsets)
                self.conn.execute(
                    OFFSETS_SQL,
                    {
                        "group": group,
                        "topic": topic,
                        "parts": parts,
                        "offs": [next_offsets[p] for p in parts],
                    },
                )
        return inserted

    def _insert_rows(self, topic: str, rows: Sequence[Row]) -> int:
        conn = self.conn
        with conn.cursor() as cur:
            with cur.copy(f"COPY {BATCH_TABLE} (d, p, o) FROM STDIN") as copy:
                for r in rows:
                    copy.write_row((r.doc, r.partition, r.offset))
            cur.execute(self._insert, {"topic": topic})
            inserted = max(cur.rowcount, 0)
        return inserted

    def find_rejects(self, topic: str, rows: Sequence[Row]) -> dict[int, str]:
        """Rows the database refuses (by index, with the reason), found one by one.

        Runs inside a transaction that is rolled back, so nothing is written;
        only used after a batch failed with a data error, which the schema
        makes rare (e.g. a NUL character, which jsonb cannot hold).
        """
        bad: dict[int, str] = {}
        conn = self.conn
        tx = conn.transaction(force_rollback=True)
        with tx:
            for i, r in enumerate(rows):
                try:
                    with conn.transaction():
                        self._insert_rows(topic, [r])
                    conn.execute(f"DELETE FROM {BATCH_TABLE}")
                except DATA_ERRORS as exc:
                    bad[i] = f"{type(exc).__name__}: {str(exc).strip()}"[:500]
        return bad
