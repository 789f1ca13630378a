"""The live sales job on real Kafka, Spark and PostgreSQL (`olist stream live` subprocesses).

- a replay, a kill -9 of the job once PostgreSQL shows it mid-stream, and a
  restart from its checkpoint: the minute rows summed per day equal batch
  staging's parity measures per day exactly (dq/parity.py BATCH_SQL on
  staging loaded from the same source rows), nothing counted twice;
- events older than the watermark land in marts.live_late_events and the
  exported counter, invalid messages are counted and skipped.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import signal
import subprocess
import sys
import urllib.request
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import pytest

from olist_pipeline.config import Role, Settings
from olist_pipeline.contracts.sources import contract_for
from olist_pipeline.stream import events as ev
from olist_pipeline.stream.events import Event
from olist_pipeline.stream.live.parity import batch_by_day, differences, live_by_day
from tests.integration._quality_data import load_staging
from tests.integration.stream_support import (
    REALDATA,
    env_for,
    prepare,
    produce_events,
    replay_events,
    wait_until,
)

pytestmark = pytest.mark.integration

ORDERS = 150
PAYMENT_HEADER = contract_for("order_payments").header


class LiveProcess:
    """``olist stream live`` in its own process group (its JVM is a child of it)."""

    def __init__(self, settings: Settings, log_path: Path, *args: str) -> None:
        self.log_path = log_path
        self._log = log_path.open("ab")
        env = env_for(settings, OLIST_SPARK_DRIVER_MEMORY="1g")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "olist_pipeline.cli", "stream", "live", *args],
            env=env,
            stdout=self._log,
            stderr=self._log,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )

    def signal_group(self, sig: int) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, sig)

    def wait(self, timeout: float) -> int:
        try:
            return self.proc.wait(timeout)
        finally:
            self._log.close()

    def stop(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(30)
        if not self._log.closed:
            self._log.close()

    def tail(self) -> str:
        return self.log_path.read_text("utf-8", "replace")[-3000:]


STATES = ("SP", "RJ", "MG")


def _source_rows(limit: int) -> dict[str, list[dict[str, str | None]]]:
    """The first ``limit`` orders of the real files and their payments, plus a customer row for
    every order but the last (the real customers file is a 200-row subset that misses them), in
    states SP, RJ, MG in turn."""

    def read(name: str) -> list[dict[str, str | None]]:
        with (REALDATA / name).open(encoding="utf-8-sig", newline="") as f:
            return [{k: (v if v != "" else None) for k, v in r.items()} for r in csv.DictReader(f)]

    orders = read("olist_orders_dataset.csv")[:limit]
    ids = {r["order_id"] for r in orders}
    payments = read("olist_order_payments_dataset.csv")
    customers = [
        {"customer_id": o["customer_id"], "customer_unique_id": f"{n:032x}",
         "customer_zip_code_prefix": "01001", "customer_city": "sao paulo",
         "customer_state": STATES[n % len(STATES)]}
        for n, o in enumerate(orders[:-1])
    ]  # fmt: skip
    return {
        "orders": orders,
        "order_payments": [r for r in payments if r["order_id"] in ids],
        "customers": customers,
    }


def _expected_states(rows: dict[str, list[dict[str, str | None]]]) -> dict[str, int]:
    state = {c["customer_id"]: c["customer_state"] for c in rows["customers"]}
    out: dict[str, int] = defaultdict(int)
    for o in rows["orders"]:
        out[str(state.get(o["customer_id"], "unknown"))] += 1
    return dict(out)


def _live_states(settings: Settings) -> dict[str, int]:
    with _admin(settings) as conn:
        rows = conn.execute(
            "SELECT customer_state, sum(orders) FROM marts.live_sales_state_minute GROUP BY 1"
        ).fetchall()
    return {str(st): int(n) for st, n in rows if n}


def _admin(settings: Settings) -> psycopg.Connection[Any]:
    return psycopg.connect(settings.postgres.dsn(Role.ADMIN), autocommit=True)


def _scalar(settings: Settings, sql: str) -> Any:
    with _admin(settings) as conn:
        row = conn.execute(sql.encode()).fetchone()
        return row[0] if row else None


def _live_by_day(settings: Settings) -> dict[tuple[date, str], Decimal]:
    with _admin(settings) as conn:
        return live_by_day(conn)


def _batch_by_day(settings: Settings) -> dict[tuple[date, str], Decimal]:
    with _admin(settings) as conn:
        return batch_by_day(conn)


def test_replay_kill_and_restart_equal_batch_parity_per_day(
    settings: Settings, tmp_path: Path
) -> None:
    rows = _source_rows(ORDERS)
    load_staging(settings, rows)
    prepare(settings)
    events = replay_events(ORDERS)
    produce_events(settings, events)
    distinct = len({e.event_id for e in events})
    checkpoint = tmp_path / "checkpoint"
    # Small batches so the kill lands mid-stream; the watermark is wide enough
    # that the proportional split of a sparse replay over partitions makes no
    # event late (lateness is the other test's subject).
    args = ("--checkpoint", str(checkpoint), "--watermark-delay", "3650d",
            "--max-offsets-per-trigger", "40", "--trigger-seconds", "0.2")  # fmt: skip

    first = LiveProcess(settings, tmp_path / "live-1.log", *args)
    try:
        wait_until(
            lambda: (_scalar(settings, "SELECT count(*) FROM marts.live_batches") or 0) >= 3,
            240,
            "three committed live batches",
        )
        first.signal_group(signal.SIGKILL)
        first.wait(30)
    finally:
        first.stop()
    applied_at_kill = _scalar(settings, "SELECT coalesce(sum(events), 0) FROM marts.live_batches")
    assert 0 < applied_at_kill < distinct, "the kill must land mid-stream"

    second = LiveProcess(settings, tmp_path / "live-2.log", *args, "--until-caught-up")
    try:
        assert second.wait(300) == 0, second.tail()
    finally:
        second.stop()
    summary = json.loads(
        next(
            ln
            for ln in reversed(second.log_path.read_text().splitlines())
            if ln.startswith('{"batches"')
        )
    )
    assert summary["late"] == 0 and summary["invalid"] == 0

    # Nothing twice: every distinct event applied exactly once over both runs.
    assert _scalar(settings, "SELECT sum(events) FROM marts.live_batches") == distinct
    assert _scalar(settings, "SELECT count(*) FROM marts.live_events_applied") == distinct
    assert _scalar(settings, "SELECT count(*) FROM marts.live_late_events") == 0

    live, batch = _live_by_day(settings), _batch_by_day(settings)
    assert batch, "batch staging is empty"
    diff = {
        k: (batch.get(k), live.get(k))
        for k in set(live) | set(batch)
        if live.get(k) != batch.get(k)
    }
    assert not diff, f"live vs batch per day differ: {sorted(diff.items())[:10]}"
    days, package_diff = differences(settings)  # what `olist run --live` reports
    assert days == len({d for d, _ in batch}) and package_diff == {}
    # The per-state split: every order once, in its customer's state ('unknown' when
    # staging.customers lacks it), and the payments' value in full.
    assert _live_states(settings) == _expected_states(rows)
    paid = _scalar(settings, "SELECT sum(payment_value) FROM marts.live_sales_state_minute")
    assert paid == sum(v for (_, m), v in batch.items() if m == "payments:sum")


def test_a_first_run_from_an_empty_checkpoint_gives_the_parity(
    settings: Settings, tmp_path: Path
) -> None:
    """`olist stream live --until-caught-up` once after a replay, from an empty checkpoint and
    empty live tables (what `make run` does on a fresh stack): equal to batch per day."""
    rows = _source_rows(ORDERS)
    load_staging(settings, rows)
    prepare(settings)
    events = replay_events(ORDERS)
    produce_events(settings, events)
    assert _scalar(settings, "SELECT count(*) FROM marts.live_sales_minute") == 0
    job = LiveProcess(
        settings, tmp_path / "live.log", "--until-caught-up", "--checkpoint",
        str(tmp_path / "checkpoint"), "--watermark-delay", "3650d",
    )  # fmt: skip
    try:
        assert job.wait(300) == 0, job.tail()
    finally:
        job.stop()
    summary = json.loads(
        next(
            ln
            for ln in reversed(job.log_path.read_text().splitlines())
            if ln.startswith('{"batches"')
        )
    )
    distinct = len({e.event_id for e in events})
    assert (summary["events"], summary["late"], summary["skipped_batches"]) == (distinct, 0, 0)
    days, diff = differences(settings)
    assert diff == {} and days > 0, sorted(diff.items())[:10]
    assert _live_states(settings) == _expected_states(rows)


def _metrics(port: int) -> dict[str, float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        text = r.read().decode()
    out: dict[str, float] = defaultdict(float)
    for line in text.splitlines():
        if line.startswith("olist_live_") and " " in line:
            key, value = line.rsplit(" ", 1)
            out[key] += float(value)
            out[key.split("{")[0]] += float(value) if "{" in key else 0.0
    return out


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_late_events_go_to_the_late_table_and_metric_invalid_ones_are_skipped(
    settings: Settings, tmp_path: Path
) -> None:
    prepare(settings)
    events = replay_events(40)
    produce_events(settings, events, poison=4, seed=3)
    checkpoint = tmp_path / "checkpoint"
    port = _free_port()
    job = LiveProcess(
        settings, tmp_path / "live.log", "--checkpoint", str(checkpoint),
        "--watermark-delay", "1d", "--trigger-seconds", "0.2", "--metrics-port", str(port),
    )  # fmt: skip
    try:
        distinct = len({e.event_id for e in events})
        wait_until(
            lambda: (
                _scalar(settings, "SELECT coalesce(sum(events), 0) FROM marts.live_batches")
                == distinct
            ),
            240,
            "the replay applied",
        )
        newest = max(e.occurred_at for e in events)
        # Three events two days behind the newest: older than the 1-day watermark.
        late = [
            Event(ev.ORDER_STREAM, "order.created", f"{n:032x}", 1, newest - timedelta(days=2),
                  {"customer_id": f"{n + 100:032x}", "order_status": "created"})
            for n in range(3)
        ]  # fmt: skip
        before = _live_by_day(settings)
        produce_events(settings, late)
        wait_until(
            lambda: _scalar(settings, "SELECT count(*) FROM marts.live_late_events") == 3,
            120,
            "three late events stored",
        )
        wait_until(
            lambda: _metrics(port).get("olist_live_late_events_total", 0) == 3,
            30,
            "the late counter at 3",
        )
        m = _metrics(port)
        # poison=4 is one message of each invalid kind per stream.
        assert m["olist_live_invalid_events_total"] == 8, m
        for kind in ("not_json", "schema_invalid", "unknown_event_type", "oversized"):
            assert m[f'olist_live_invalid_events_total{{error_class="{kind}"}}'] == 2, m
        assert m["olist_live_events_total"] == distinct
        assert m["olist_live_last_progress_timestamp_seconds"] > 0
        stored = _scalar(
            settings,
            "SELECT array_agg(event_id::text ORDER BY event_id) FROM marts.live_late_events",
        )
        assert sorted(stored) == sorted(e.event_id for e in late)
        assert _live_by_day(settings) == before, "late events must not change the minutes"
        job.proc.send_signal(signal.SIGTERM)
        assert job.wait(60) == 0, job.tail()
    finally:
        job.stop()


@pytest.fixture(scope="module")
def spark(base_settings: Settings) -> Any:
    from olist_pipeline.transform.spark import spark_session

    # The session of this test process (the stack's Connect server, as the transform
    # tests use): the job's own in-process session runs in the `olist stream live`
    # subprocesses above; one process cannot hold both kinds.
    return spark_session(base_settings, "live-sink-test")


SINK_TOPICS = {"t.orders": ev.ORDER_STREAM, "t.payments": ev.PAYMENT_STREAM}
T0 = datetime(2018, 1, 2, 10, 30, 15, tzinfo=UTC)


def _batch(spark: Any, events: list[Event], poison: int = 0) -> Any:
    """The events as Kafka records, parsed by the job's own mapInArrow on the executors."""
    from olist_pipeline.stream.live import frames

    records: list[tuple[str, bytes | None]] = [
        (f"t.{e.stream}", e.encode(e.occurred_at + timedelta(seconds=1))) for e in events
    ]
    records += [("t.orders", b"{not json")] * poison
    raw = spark.createDataFrame(records, "topic string, value binary")
    return frames.SparkBatch(frames.parse(raw, SINK_TOPICS).cache())


def _order(n: int, at: datetime, customer: str | None = None) -> list[Event]:
    """order.created and one payment of 10.00 + n for the order numbered n, at ``at``."""
    order_id = f"{n:032x}"
    payload = {"customer_id": customer or f"{n + 500:032x}", "order_status": "created"}
    created = Event(ev.ORDER_STREAM, "order.created", order_id, 1, at, payload)
    row = (order_id, "1", "credit_card", "1", f"{10 + n}.00")
    return [created, ev.payment_event(row, PAYMENT_HEADER, at)]


def _minutes(settings: Settings) -> list[tuple[Any, ...]]:
    with _admin(settings) as conn:
        return conn.execute(
            "SELECT minute, orders, stage_created, payments, payment_value"
            " FROM marts.live_sales_minute ORDER BY minute"
        ).fetchall()


def test_the_sink_skips_a_committed_batch_id_and_splits_by_customer_state(
    pg_settings: Settings, spark: Any
) -> None:
    """Spark's parse and aggregates into the sink (no Kafka): the ledger, the dedup by event id,
    invalid records counted, and the state join."""
    from olist_pipeline.stream.live.sink import LiveSink

    rows = _source_rows(3)
    load_staging(pg_settings, rows)
    order = rows["orders"][0]
    customer = str(order["customer_id"])
    state = next(c["customer_state"] for c in rows["customers"] if c["customer_id"] == customer)
    events = _order(1, T0, customer)
    sink = LiveSink(pg_settings, "00000000-0000-0000-0000-000000000001", timedelta(days=1))
    first = sink.apply(0, _batch(spark, events + events, poison=2))  # a copy inside the batch
    again = sink.apply(0, _batch(spark, events))  # a replay of the same batch id after a crash
    dup = sink.apply(1, _batch(spark, events))  # the same events in a later batch
    assert (first.skipped, first.applied, first.duplicates, first.invalid) == (False, 2, 2, 2)
    assert again.skipped is True
    assert (dup.skipped, dup.applied, dup.duplicates) == (False, 0, 2)
    minute = T0.replace(second=0)
    assert _minutes(pg_settings) == [(minute, 1, 1, 1, Decimal("11.00"))]
    with _admin(pg_settings) as conn:
        states = conn.execute(
            "SELECT customer_state, orders, payments, payment_value"
            " FROM marts.live_sales_state_minute"
        ).fetchall()
    assert states == [(state, 1, 1, Decimal("11.00"))]


def test_applied_ids_below_the_horizon_are_pruned_and_never_count_twice(
    pg_settings: Settings, spark: Any
) -> None:
    """The applied-id ledger stays bounded (V063): ids older than the horizon go, and a copy of
    such an event arriving later is stored as late, once, and never reaches a minute, also
    under a new query id (a fresh checkpoint) with a wider delay."""
    from olist_pipeline.stream.live.sink import LiveSink

    def applied() -> int:
        return int(_scalar(pg_settings, "SELECT count(*) FROM marts.live_events_applied"))

    hour = timedelta(hours=1)
    old, newer, newest = _order(1, T0), _order(2, T0 + 2 * hour), _order(3, T0 + 3 * hour)
    sink = LiveSink(pg_settings, "00000000-0000-0000-0000-000000000002", hour)
    assert sink.apply(0, _batch(spark, old)).applied == 2
    # Horizon T0 - 1h: nothing older; then T0 + 1h once `newer` is in: `old` is below it.
    assert sink.apply(1, _batch(spark, newer)).pruned == 0
    third = sink.apply(2, _batch(spark, newest))
    assert third.watermark == T0 + hour and third.pruned == 2
    assert applied() == 4, "the ids of `old` are pruned, the newer ones kept"
    counted = _minutes(pg_settings)
    assert [r[1] for r in counted] == [1, 1, 1]

    replay = sink.apply(3, _batch(spark, old))  # the pruned events again
    assert (replay.applied, replay.late, replay.duplicates) == (0, 2, 0)
    again = sink.apply(4, _batch(spark, old))  # and once more: already stored as late
    assert (again.applied, again.late, again.duplicates) == (0, 0, 2)
    # A fresh checkpoint (new query id) with a far wider delay: the horizon does not move back.
    wide = LiveSink(pg_settings, "00000000-0000-0000-0000-000000000003", timedelta(days=3650))
    fresh = wide.apply(0, _batch(spark, old))
    assert fresh.watermark is not None and fresh.watermark >= third.watermark
    assert (fresh.applied, fresh.late, fresh.duplicates) == (0, 0, 2)
    assert _minutes(pg_settings) == counted, "a pruned event must never count twice"
    assert _scalar(pg_settings, "SELECT count(*) FROM marts.live_late_events") == 2


def test_spark_watermark_drops_late_rows_keeping_only_a_count(spark: Any, tmp_path: Path) -> None:
    """Why stream/live/job.py keeps the sink's watermark (measured on our Spark): with
    `withWatermark` a stateful aggregation drops the rows behind it before `foreachBatch` sees
    them, and the progress keeps a count only; without a stateful operator, as in the live
    query, the watermark is computed and changes nothing."""
    from pyspark.sql import functions as F

    def run(stateful: bool) -> tuple[int, int]:
        src = tmp_path / f"in-{stateful}"
        src.mkdir()
        # foreachBatch may run in another process (a Spark Connect server's Python
        # worker), so the batches land in files, not in a list of this process.
        sink = str(tmp_path / f"out-{stateful}")
        raw = (
            spark.readStream.schema("ts timestamp")
            .option("maxFilesPerTrigger", 1)
            .json(str(src))
            .withWatermark("ts", "10 minutes")
        )
        if stateful:
            out = raw.groupBy(F.window("ts", "1 minute")).agg(F.count("*").alias("n"))
        else:
            out = raw.select(F.lit(1).alias("n"))
        query = (
            out.writeStream.outputMode("update" if stateful else "append")
            .foreachBatch(lambda df, _: df.write.mode("append").parquet(sink))
            .option("checkpointLocation", str(tmp_path / f"cp-{stateful}"))
            .start()
        )
        try:
            # The third file is 2 h behind the second: older than its watermark (11:50).
            for n, stamps in enumerate(
                (["10:00:00", "10:01:00"], ["12:00:00"], ["10:01:30", "10:02:00"], ["12:01:00"])
            ):
                (src / f"{n}.json").write_text(
                    "\n".join(f'{{"ts": "2018-01-01T{t}Z"}}' for t in stamps)
                )
                query.processAllAvailable()
            dropped = sum(
                op.get("numRowsDroppedByWatermark", 0)
                for p in query.recentProgress
                for op in p.get("stateOperators", [])
            )
        finally:
            query.stop()
        # Every on-time minute gets its rows in one batch, so the counts emitted (update mode)
        # sum to the rows that reached the sink.
        total = spark.read.parquet(sink).agg(F.sum("n")).first()[0]
        return int(total or 0), dropped

    assert run(stateful=True) == (4, 2), "two late rows dropped, a count kept"
    assert run(stateful=False) == (6, 0), "no stateful operator: the watermark drops nothing"
