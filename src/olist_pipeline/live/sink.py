"""One micro-batch of the live job into PostgreSQL, in one transaction, once.

The batch id is recorded in ``marts.live_batches`` in the same transaction
as the rows it produced: a batch Spark replays after a crash (its offsets
were logged, its commit was not) finds its id there and is skipped.

Inside the transaction, set-based:

1. the events land in a temporary table; ids already applied (a producer
   duplicate, a second copy in the batch) are dropped;
2. the watermark in force is the newest event time of the committed batches
   minus the delay; older events go to ``marts.live_late_events`` whole and
   are not added to any minute;
3. order events update the per-order state (purchase minute, stage of the
   highest sequence), and the change moves the order between the stage
   columns of its purchase minute; payments add to their minute;
4. the per-state split joins ``staging.customers`` for the customer's state.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import psycopg

from olist_pipeline.config import Role, Settings
from olist_pipeline.db import connect
from olist_pipeline.live.events import LiveEvent

STAGES = ("created", "approved", "shipped", "delivered", "canceled", "unavailable")

_STAGE_NEW = ", ".join(f"(new_stage = '{s}')::int AS stage_{s}" for s in STAGES)
_STAGE_OLD = ", ".join(f"-(old_stage = '{s}')::int AS stage_{s}" for s in STAGES)
_STAGE_COLS = ", ".join(f"stage_{s}" for s in STAGES)
_STAGE_SUMS = ", ".join(f"sum(stage_{s})" for s in STAGES)
_STAGE_ADD = ", ".join(f"stage_{s} = m.stage_{s} + EXCLUDED.stage_{s}" for s in STAGES)

_CREATE_BATCH = """
CREATE TEMP TABLE live_batch (
    event_id uuid, stream text, event_type text, order_id text, sequence integer,
    occurred_at timestamptz, order_status text, customer_id text,
    payment_value numeric(12, 2), event jsonb
) ON COMMIT DROP
"""

_NEW_EVENTS = """
CREATE TEMP TABLE live_new ON COMMIT DROP AS
SELECT d.* FROM (SELECT DISTINCT ON (event_id) * FROM live_batch ORDER BY event_id) d
WHERE NOT EXISTS (SELECT 1 FROM marts.live_events_applied a WHERE a.event_id = d.event_id)
"""

_LATE = """
WITH late AS (
    DELETE FROM live_new WHERE occurred_at < %(wm)s RETURNING *
)
INSERT INTO marts.live_late_events
    (event_id, query_id, batch_id, event_type, order_id, occurred_at, watermark, event)
SELECT event_id, %(q)s, %(b)s, event_type, order_id, occurred_at, %(wm)s, event FROM late
ON CONFLICT (event_id) DO NOTHING
"""

_ORDERS = """
CREATE TEMP TABLE live_orders ON COMMIT DROP AS
WITH b AS (
    SELECT order_id,
           date_trunc('minute', min(occurred_at) FILTER (WHERE sequence = 1)) AS minute,
           max(customer_id) AS customer_id,
           max(sequence) AS seq,
           (array_agg(order_status ORDER BY sequence DESC))[1] AS stage
    FROM live_new WHERE stream = 'orders' GROUP BY order_id
)
SELECT b.order_id,
       s.purchase_minute AS old_minute,
       s.stage AS old_stage,
       coalesce(s.purchase_minute, b.minute) AS new_minute,
       CASE WHEN s.stage_sequence >= b.seq THEN s.stage ELSE b.stage END AS new_stage,
       greatest(s.stage_sequence, b.seq) AS new_seq,
       coalesce(s.customer_id, b.customer_id) AS customer_id,
       b.minute IS NOT NULL AS created_now
FROM b LEFT JOIN marts.live_order_state s USING (order_id)
"""

_ORDER_STATE = """
INSERT INTO marts.live_order_state
    (order_id, purchase_minute, customer_id, stage, stage_sequence, batch_id)
SELECT order_id, new_minute, customer_id, new_stage, new_seq, %(b)s FROM live_orders
ON CONFLICT (order_id) DO UPDATE SET
    purchase_minute = EXCLUDED.purchase_minute, customer_id = EXCLUDED.customer_id,
    stage = EXCLUDED.stage, stage_sequence = EXCLUDED.stage_sequence,
    batch_id = EXCLUDED.batch_id
"""

_ORDER_MINUTES = f"""
INSERT INTO marts.live_sales_minute AS m (minute, orders, {_STAGE_COLS})
SELECT minute, sum(orders), {_STAGE_SUMS} FROM (
    SELECT new_minute AS minute, created_now::int AS orders, {_STAGE_NEW}
    FROM live_orders WHERE new_minute IS NOT NULL
    UNION ALL
    SELECT old_minute, 0, {_STAGE_OLD}
    FROM live_orders WHERE old_minute IS NOT NULL
) d GROUP BY minute
ON CONFLICT (minute) DO UPDATE SET orders = m.orders + EXCLUDED.orders, {_STAGE_ADD},
    updated_at = now()
"""

_PAYMENT_MINUTES = """
INSERT INTO marts.live_sales_minute AS m (minute, payments, payment_value)
SELECT date_trunc('minute', occurred_at), count(*), sum(payment_value)
FROM live_new WHERE stream = 'payments' GROUP BY 1
ON CONFLICT (minute) DO UPDATE SET payments = m.payments + EXCLUDED.payments,
    payment_value = m.payment_value + EXCLUDED.payment_value, updated_at = now()
"""

_STATE_MINUTES = """
INSERT INTO marts.live_sales_state_minute AS m
    (minute, customer_state, orders, payments, payment_value)
SELECT minute, st, sum(orders), sum(payments), sum(value) FROM (
    SELECT o.new_minute AS minute, coalesce(c.customer_state, 'unknown') AS st,
           1 AS orders, 0 AS payments, 0::numeric AS value
    FROM live_orders o LEFT JOIN staging.customers c ON c.customer_id = o.customer_id
    WHERE o.created_now
    UNION ALL
    SELECT date_trunc('minute', p.occurred_at), coalesce(c.customer_state, 'unknown'),
           0, 1, p.payment_value
    FROM live_new p
    LEFT JOIN marts.live_order_state s ON s.order_id = p.order_id
    LEFT JOIN staging.customers c ON c.customer_id = s.customer_id
    WHERE p.stream = 'payments'
) d GROUP BY 1, 2
ON CONFLICT (minute, customer_state) DO UPDATE SET orders = m.orders + EXCLUDED.orders,
    payments = m.payments + EXCLUDED.payments,
    payment_value = m.payment_value + EXCLUDED.payment_value
"""


@dataclass(frozen=True)
class BatchResult:
    batch_id: int
    skipped: bool  # already committed (a replay after a crash)
    received: int = 0
    applied: int = 0
    duplicates: int = 0
    late: int = 0
    invalid: int = 0
    max_event_time: datetime | None = None
    watermark: datetime | None = None
    seconds: float = 0.0


class LiveSink:
    """Applies micro-batches for one streaming query (its checkpoint's query id)."""

    def __init__(self, settings: Settings, query_id: str, watermark_delay: timedelta) -> None:
        self.settings = settings
        self.query_id = query_id
        self.delay = watermark_delay

    def apply(self, batch_id: int, events: Sequence[LiveEvent], invalid: int = 0) -> BatchResult:
        t0 = time.monotonic()
        with connect(self.settings, Role.STREAM) as conn, conn.transaction():
            result = self._apply(conn, batch_id, events, invalid)
        return BatchResult(**{**result.__dict__, "seconds": time.monotonic() - t0})

    def _apply(
        self,
        conn: psycopg.Connection[Any],
        batch_id: int,
        events: Sequence[LiveEvent],
        invalid: int,
    ) -> BatchResult:
        q, b = self.query_id, batch_id
        # One writer per query; the lock makes a second one (a zombie driver) wait, not interleave.
        conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (q,))
        done = conn.execute(
            "SELECT 1 FROM marts.live_batches WHERE query_id = %s AND batch_id = %s", (q, b)
        ).fetchone()
        if done is not None:
            return BatchResult(b, skipped=True, received=len(events))
        row = conn.execute(
            "SELECT max(max_event_time) FROM marts.live_batches WHERE query_id = %s", (q,)
        ).fetchone()
        newest: datetime | None = row[0] if row else None
        wm = newest - self.delay if newest is not None else None
        conn.execute(_CREATE_BATCH)
        with conn.cursor().copy(
            "COPY live_batch (event_id, stream, event_type, order_id, sequence, occurred_at,"
            " order_status, customer_id, payment_value, event) FROM STDIN"
        ) as copy:
            for e in events:
                copy.write_row(
                    (e.event_id, e.stream, e.event_type, e.order_id, e.sequence, e.occurred_at,
                     e.order_status, e.customer_id, e.payment_value, e.document)
                )  # fmt: skip
        conn.execute(_NEW_EVENTS)
        fresh = _count(conn, "SELECT count(*) FROM live_new")
        late = 0
        if wm is not None:
            late = _count(conn, "SELECT count(*) FROM live_new WHERE occurred_at < %s", (wm,))
            if late:
                conn.execute(_LATE, {"wm": wm, "q": q, "b": b})
        conn.execute("INSERT INTO marts.live_events_applied SELECT event_id FROM live_new")
        conn.execute(_ORDERS)
        conn.execute(_ORDER_STATE, {"b": b})
        conn.execute(_ORDER_MINUTES)
        conn.execute(_PAYMENT_MINUTES)
        conn.execute(_STATE_MINUTES)
        top = conn.execute("SELECT max(occurred_at) FROM live_new").fetchone()
        max_event: datetime | None = top[0] if top else None
        applied = fresh - late
        conn.execute(
            "INSERT INTO marts.live_batches (query_id, batch_id, events, duplicates, late,"
            " invalid, max_event_time, watermark) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
            (q, b, applied, len(events) - fresh, late, invalid, max_event, wm),
        )
        return BatchResult(
            b,
            skipped=False,
            received=len(events),
            applied=applied,
            duplicates=len(events) - fresh,
            late=late,
            invalid=invalid,
            max_event_time=max_event,
            watermark=wm,
        )


def _count(conn: psycopg.Connection[Any], sql: str, params: tuple[Any, ...] = ()) -> int:
    row = conn.execute(sql.encode(), params).fetchone()
    return int(row[0]) if row else 0
