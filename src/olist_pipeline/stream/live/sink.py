"""One micro-batch of the live job into PostgreSQL, in one transaction, once.

The batch id is recorded in ``marts.live_batches`` in the same transaction
as the rows it produced: a batch Spark replays after a crash (its offsets
were logged, its commit was not) finds its id there and is skipped.

Spark parses and aggregates (``stream.live.frames``); inside the transaction:

1. the batch's event ids (only the ids cross to the driver) land in a
   temporary table; those already in ``marts.live_events_applied`` (a
   producer duplicate, a replay into a new checkpoint) are handed back to
   Spark to leave out;
2. the horizon (watermark) in force: the newest applied event time minus the
   delay, never below a horizon used before. Newer, unseen events are on
   time; older ones go to ``marts.live_late_events`` whole and are counted,
   never added to a minute;
3. Spark's aggregates of the on-time events are merged additively: per
   minute (orders created, payments, paid GMV), per order (the stage moves)
   and per minute and order (the per-state split);
4. the applied ids older than the horizon are pruned (V063): an event older
   than the horizon is late from then on, so its id is no longer needed to
   keep it from counting twice.

Why the per-order stage stays in PostgreSQL: the stage columns count, per
purchase minute, the orders *now* in each stage, so a later lifecycle event
moves one order from one column to another (-1/+1) of a minute that may be
months old. That needs the order's previous stage and purchase minute for
every order ever seen, with no bound in event time (Olist orders are
delivered weeks after purchase; ``order.created`` can even arrive after a
later sequence). Spark's per-key state (``transformWithState``) could hold
it, but would emit retractions that a following Spark aggregation cannot
consume (update mode after an arbitrary stateful operator accepts no
aggregation over its output), the state would never expire under a
watermark, and it would live in the checkpoint, so a new checkpoint would
lose it while the minute rows in PostgreSQL keep the counts built on it.
In PostgreSQL it sits beside those rows and commits with them.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Protocol

import psycopg

from olist_pipeline.config import Role, Settings
from olist_pipeline.db import connect
from olist_pipeline.stream.live.frames import EPOCH, Aggregates, EventKey, from_micros, micros

STAGES = ("created", "approved", "shipped", "delivered", "canceled", "unavailable")

_STAGE_NEW = ", ".join(f"(new_stage = '{s}')::int AS stage_{s}" for s in STAGES)
_STAGE_OLD = ", ".join(f"-(old_stage = '{s}')::int AS stage_{s}" for s in STAGES)
_STAGE_COLS = ", ".join(f"stage_{s}" for s in STAGES)
_STAGE_SUMS = ", ".join(f"sum(stage_{s})" for s in STAGES)
_STAGE_ADD = ", ".join(f"stage_{s} = m.stage_{s} + EXCLUDED.stage_{s}" for s in STAGES)

_TEMP = """
CREATE TEMP TABLE live_keys (event_id uuid, occurred_at timestamptz) ON COMMIT DROP;
CREATE TEMP TABLE live_batch_orders (
    order_id text, minute timestamptz, customer_id text, seq integer, stage text
) ON COMMIT DROP;
CREATE TEMP TABLE live_batch_minutes (
    minute timestamptz, orders integer, payments integer, payment_value numeric(14, 2)
) ON COMMIT DROP;
CREATE TEMP TABLE live_batch_payments (
    minute timestamptz, order_id text, payments integer, payment_value numeric(14, 2)
) ON COMMIT DROP
"""

_SEEN = """
SELECT DISTINCT k.event_id::text FROM live_keys k
JOIN marts.live_events_applied a ON a.event_id = k.event_id
"""

_LATE = """
INSERT INTO marts.live_late_events
    (event_id, query_id, batch_id, event_type, order_id, occurred_at, watermark, event)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s)
ON CONFLICT (event_id) DO NOTHING
"""

_ORDERS = """
CREATE TEMP TABLE live_orders ON COMMIT DROP AS
SELECT b.order_id,
       s.purchase_minute AS old_minute,
       s.stage AS old_stage,
       coalesce(s.purchase_minute, b.minute) AS new_minute,
       CASE WHEN s.stage_sequence >= b.seq THEN s.stage ELSE b.stage END AS new_stage,
       greatest(s.stage_sequence, b.seq) AS new_seq,
       coalesce(s.customer_id, b.customer_id) AS customer_id,
       b.minute IS NOT NULL AS created_now
FROM live_batch_orders b LEFT JOIN marts.live_order_state s USING (order_id)
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

# The stage moves only: the orders created come with Spark's minute rows.
_STAGE_MINUTES = f"""
INSERT INTO marts.live_sales_minute AS m (minute, {_STAGE_COLS})
SELECT minute, {_STAGE_SUMS} FROM (
    SELECT new_minute AS minute, {_STAGE_NEW}
    FROM live_orders WHERE new_minute IS NOT NULL
    UNION ALL
    SELECT old_minute, {_STAGE_OLD}
    FROM live_orders WHERE old_minute IS NOT NULL
) d GROUP BY minute
ON CONFLICT (minute) DO UPDATE SET {_STAGE_ADD}, updated_at = now()
"""

_MINUTES = """
INSERT INTO marts.live_sales_minute AS m (minute, orders, payments, payment_value)
SELECT minute, orders, payments, payment_value FROM live_batch_minutes
ON CONFLICT (minute) DO UPDATE SET orders = m.orders + EXCLUDED.orders,
    payments = m.payments + EXCLUDED.payments,
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
    SELECT p.minute, coalesce(c.customer_state, 'unknown'), 0, p.payments, p.payment_value
    FROM live_batch_payments p
    LEFT JOIN marts.live_order_state s ON s.order_id = p.order_id
    LEFT JOIN staging.customers c ON c.customer_id = s.customer_id
) d GROUP BY 1, 2
ON CONFLICT (minute, customer_state) DO UPDATE SET orders = m.orders + EXCLUDED.orders,
    payments = m.payments + EXCLUDED.payments,
    payment_value = m.payment_value + EXCLUDED.payment_value
"""

# The horizon in force: the newest applied event time of any query minus the delay, and never
# below a horizon already used (the ledger's newest watermark). Global and monotonic because
# the applied ids below it are pruned: an event older than it must be late, whatever the
# checkpoint (a fresh one gets a fresh query id) or a later, wider --watermark-delay.
_HORIZON = "SELECT max(max_event_time), max(watermark) FROM marts.live_batches"


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
    newest_produced: datetime | None = None
    watermark: datetime | None = None
    pruned: int = 0  # applied ids dropped below the horizon
    seconds: float = 0.0


class MicroBatch(Protocol):
    """What the sink needs of a micro-batch (``stream.live.frames.SparkBatch``)."""

    def keys(self) -> list[EventKey]: ...
    def invalid(self) -> dict[str, int]: ...
    def late_rows(self, ids: Sequence[str]) -> list[tuple[str, str, str, int, str]]: ...
    def aggregate(self, exclude: Sequence[str], watermark_us: int | None) -> Aggregates: ...


class LiveSink:
    """Applies micro-batches for one streaming query (its checkpoint's query id)."""

    def __init__(self, settings: Settings, query_id: str, watermark_delay: timedelta) -> None:
        self.settings = settings
        self.query_id = query_id
        self.delay = watermark_delay

    def apply(self, batch_id: int, batch: MicroBatch) -> BatchResult:
        t0 = time.monotonic()
        with connect(self.settings, Role.STREAM) as conn, conn.transaction():
            result = self._apply(conn, batch_id, batch)
        return replace(result, seconds=time.monotonic() - t0)

    def watermark(self, conn: psycopg.Connection[Any]) -> datetime | None:
        row = conn.execute(_HORIZON).fetchone()
        newest, used = (row[0], row[1]) if row else (None, None)
        candidates = [t for t in (newest - self.delay if newest else None, used) if t]
        return max(candidates) if candidates else None

    def _apply(
        self, conn: psycopg.Connection[Any], batch_id: int, batch: MicroBatch
    ) -> BatchResult:
        q, b = self.query_id, batch_id
        # One writer; the lock makes a second one (a zombie driver, a second query on the
        # same tables) wait, not interleave: the horizon and the applied ids are shared.
        conn.execute("SELECT pg_advisory_xact_lock(hashtext('olist_live_sales'))")
        done = conn.execute(
            "SELECT 1 FROM marts.live_batches WHERE query_id = %s AND batch_id = %s", (q, b)
        ).fetchone()
        if done is not None:
            return BatchResult(b, skipped=True)
        wm = self.watermark(conn)
        wm_us = micros(wm) if wm is not None else None
        keys = batch.keys()
        invalid = sum(batch.invalid().values())
        conn.execute(_TEMP)
        with conn.cursor().copy("COPY live_keys (event_id, occurred_at) FROM STDIN") as copy:
            for k in keys:
                copy.write_row((k.event_id, from_micros(k.occurred_us)))
        # Ids compare as text on both sides: the contracts admit only lowercase canonical UUIDs.
        seen = [r[0] for r in conn.execute(_SEEN).fetchall()]
        seen_set = set(seen)
        fresh = {k.event_id: k for k in keys if k.event_id not in seen_set}
        late_ids = [i for i, k in fresh.items() if wm_us is not None and k.occurred_us < wm_us]
        late = 0
        if late_ids:
            with conn.cursor() as cur:
                for event_id, event_type, order_id, occurred_us, doc in batch.late_rows(late_ids):
                    cur.execute(
                        _LATE,
                        (event_id, q, b, event_type, order_id, from_micros(occurred_us), wm, doc),
                    )
                    late += cur.rowcount  # a late event seen before is a duplicate
        late_set = set(late_ids)
        on_time = [k for i, k in fresh.items() if i not in late_set]
        with conn.cursor().copy(
            "COPY marts.live_events_applied (event_id, occurred_at) FROM STDIN"
        ) as copy:
            for k in on_time:
                copy.write_row((k.event_id, from_micros(k.occurred_us)))
        agg = batch.aggregate(seen, wm_us)
        _copy(conn, "live_batch_orders (order_id, minute, customer_id, seq, stage)",
              [(o, _minute(m), c, s, st) for o, m, c, s, st in agg.orders])  # fmt: skip
        _copy(conn, "live_batch_minutes (minute, orders, payments, payment_value)",
              [(_minute(m), o, p, v) for m, o, p, v in agg.minutes])  # fmt: skip
        _copy(conn, "live_batch_payments (minute, order_id, payments, payment_value)",
              [(_minute(m), o, p, v) for m, o, p, v in agg.order_payments])  # fmt: skip
        conn.execute(_ORDERS)
        conn.execute(_ORDER_STATE, {"b": b})
        conn.execute(_STAGE_MINUTES)
        conn.execute(_MINUTES)
        conn.execute(_STATE_MINUTES)
        max_event = from_micros(max(k.occurred_us for k in on_time)) if on_time else None
        newest_produced = from_micros(max(k.produced_us for k in on_time)) if on_time else None
        duplicates = len(keys) - len(on_time) - late
        # committed_at: the clock at the end of the batch's work, not the transaction start
        # (now()), which is before Spark scanned the batch.
        conn.execute(
            "INSERT INTO marts.live_batches (query_id, batch_id, events, duplicates, late,"
            " invalid, max_event_time, watermark, committed_at)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, clock_timestamp())",
            (q, b, len(on_time), duplicates, late, invalid, max_event, wm),
        )
        # Bounded ledger (V063): ids older than the horizon go; their events are late from now
        # on, so a copy arriving later is stored as late, never counted twice.
        row = conn.execute("SELECT marts.live_prune_applied()").fetchone()
        pruned = int(row[0]) if row and row[0] is not None else 0
        return BatchResult(
            b,
            skipped=False,
            received=len(keys),
            applied=len(on_time),
            duplicates=duplicates,
            late=late,
            invalid=invalid,
            max_event_time=max_event,
            newest_produced=newest_produced,
            watermark=wm,
            pruned=pruned,
        )


def _minute(epoch_s: int | None) -> datetime | None:
    return None if epoch_s is None else EPOCH + timedelta(seconds=epoch_s)


def _copy(conn: psycopg.Connection[Any], target: str, rows: Sequence[tuple[Any, ...]]) -> None:
    if not rows:
        return
    with conn.cursor().copy(f"COPY {target} FROM STDIN".encode()) as copy:
        for r in rows:
            copy.write_row(r)
