"""Stream sink benchmark: sustained events/s into staging, next to the raw consume rate,
and end-to-end latency at a fixed 2,000 events/s.

Runs on the local stack (``olist stack up``), in its own database and Kafka
namespace, which it drops afterwards. Figures:
- raw consume: a bare confluent-kafka consumer reading the same topic (no
  parsing, no sink): the ceiling the sink is measured against;
- exactly-once sink: ``olist stream consume`` (a real subprocess): the rows
  of every batch but the last, over the time from the first batch's start to
  the last batch's start (``stored_at`` is the transaction start, so the last
  batch's rows were written after the span ends and are not counted);
- latency: produce at 2,000 events/s while a consumer runs; per event
  ``stored_at - produced_at`` (stored_at is the row's insert time inside the
  batch transaction, a few ms before its commit).
Targets on 2 cores: >= 20,000 events/s sustained; p99 < 500 ms at 2,000/s.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import psycopg
from confluent_kafka import Consumer, TopicPartition
from psycopg import sql

from olist_pipeline.config import Role, Settings, load_settings
from olist_pipeline.db.migrate import migrate
from olist_pipeline.stream.events import Event
from olist_pipeline.stream.producer import produce
from olist_pipeline.stream.source import load_events
from olist_pipeline.stream.topics import create_topics, stream_spec

REALDATA = Path(__file__).resolve().parents[2].parent / "shared" / "realdata"
EVENTS = int(os.environ.get("BENCH_STREAM_EVENTS", "100000"))
LATENCY_RATE = 2000
LATENCY_SECONDS = int(os.environ.get("BENCH_STREAM_LATENCY_SECONDS", "15"))


def _events(n: int, prefix: str = "") -> list[Event]:
    """``n`` order events: the real lifecycles, repeated under fresh order ids."""
    base = [e for e in load_events(REALDATA)[0] if e.stream == "orders"]
    out: list[Event] = []
    copy = 0
    while len(out) < n:
        # A distinct hex prefix per copy (and per caller prefix) keeps ids unique.
        head = prefix + f"{copy:03x}" if prefix else f"{copy:04x}"
        out += [
            dataclasses.replace(e, order_id=head + e.order_id[4:], event_id="")
            for e in base[: n - len(out)]
        ]
        copy += 1
    return out


def _consume_raw(settings: Settings, topic: str, n: int) -> float:
    c = Consumer(
        {
            "bootstrap.servers": settings.kafka.bootstrap_servers,
            "group.id": f"bench-raw-{uuid.uuid4().hex}",
            "enable.auto.commit": False,
            "fetch.wait.max.ms": 100,
        }
    )
    try:
        md = c.list_topics(topic, timeout=10)
        c.assign([TopicPartition(topic, p, 0) for p in md.topics[topic].partitions])
        got, first = 0, None
        while got < n:
            msgs = c.consume(5000, 1.0)
            if msgs and first is None:
                first = time.perf_counter()
            got += sum(1 for m in msgs if m.error() is None and m.value() is not None)
        assert first is not None
        return n / (time.perf_counter() - first)
    finally:
        c.close()


def _consumer(settings: Settings, log: Path, *args: str) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "OLIST_PG_DATABASE": settings.postgres.database,
        "OLIST_KAFKA_NAMESPACE": settings.kafka.namespace,
        "OLIST_LOG_LEVEL": "WARNING",
    }
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "olist_pipeline.cli",
            "stream",
            "consume",
            "--stream",
            "orders",
            *args,
        ],
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )


def _drop_topics(settings: Settings) -> None:
    from olist_pipeline.stream.topics import admin_client

    admin = admin_client(settings)
    ours = [
        t for t in admin.list_topics(timeout=10).topics if t.startswith(settings.kafka.namespace)
    ]
    if ours:
        for future in admin.delete_topics(ours).values():
            future.result(30)


def _sink_rate(settings: Settings) -> tuple[int, float]:
    """All rows stored, and the sustained rate: rows written inside the span / span."""
    with psycopg.connect(settings.postgres.dsn(Role.ADMIN)) as conn:
        row = conn.execute(
            "WITH b AS (SELECT min(stored_at) AS t0, max(stored_at) AS t1"
            " FROM staging.order_events)"
            " SELECT count(*), count(*) FILTER (WHERE stored_at < b.t1),"
            " extract(epoch FROM b.t1 - b.t0)"
            " FROM staging.order_events, b GROUP BY b.t0, b.t1"
        ).fetchone()
    assert row is not None
    rows, inside, span = int(row[0]), int(row[1]), float(row[2])
    return rows, inside / span if span else float("nan")


def _pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def main() -> None:
    base = load_settings()
    db = f"olist_bench_{uuid.uuid4().hex[:8]}"
    settings = base.with_database(db).with_kafka_namespace(f"bench{uuid.uuid4().hex[:8]}.")
    admin = base.postgres.dsn(Role.ADMIN, "postgres")
    migrate(settings)
    logs = Path(tempfile.mkdtemp(prefix="bench-stream-"))
    try:
        create_topics(settings)
        topic = stream_spec("orders").topic_name(settings)
        events = _events(EVENTS)
        t0 = time.perf_counter()
        report = produce(settings, events, streams=("orders",))
        produce_rate = len(events) / (time.perf_counter() - t0)
        n = report.streams["orders"].valid
        raw = _consume_raw(settings, topic, n)

        proc = _consumer(settings, logs / "sink.log", "--until-caught-up")
        # wait4 gives the child's CPU time: a figure the other tenants of the
        # machine cannot inflate the way they inflate wall time.
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        assert proc.returncode == 0, (logs / "sink.log").read_text()[-2000:]
        cpu_us = (usage.ru_utime + usage.ru_stime) / n * 1e6
        rows, sink = _sink_rate(settings)
        assert rows == n, (rows, n)

        # The same topic again, two group members (the consumer scales by partitions).
        with psycopg.connect(settings.postgres.dsn(Role.ADMIN), autocommit=True) as conn:
            conn.execute("TRUNCATE staging.order_events")
        two = [
            _consumer(settings, logs / f"sink-{i}.log", "--group", "two", "--until-caught-up")
            for i in range(2)
        ]
        for p in two:
            assert p.wait(900) == 0
        rows2, sink2 = _sink_rate(settings)
        assert rows2 == n, (rows2, n)

        # Latency at a fixed rate: fresh events into a fresh namespace.
        lat = settings.with_kafka_namespace(settings.kafka.namespace + "lat.")
        create_topics(lat)
        later = _events(LATENCY_RATE * LATENCY_SECONDS, prefix="f")
        proc = _consumer(lat, logs / "latency.log")
        time.sleep(5)  # let it join the group before the clock starts
        sent = produce(lat, later, rate=LATENCY_RATE, streams=("orders",))
        lat_topic = stream_spec("orders").topic_name(lat)

        def landed() -> int:
            with psycopg.connect(settings.postgres.dsn(Role.ADMIN)) as conn:
                row = conn.execute(
                    "SELECT count(*) FROM staging.order_events WHERE kafka_topic = %s",
                    (lat_topic,),
                ).fetchone()
            return int(row[0]) if row else 0

        deadline = time.monotonic() + 120
        while landed() < sent.streams["orders"].valid and time.monotonic() < deadline:
            time.sleep(0.5)
        proc.terminate()
        proc.wait(60)
        with psycopg.connect(settings.postgres.dsn(Role.ADMIN)) as conn:
            latencies = [
                float(r[0]) * 1000
                for r in conn.execute(
                    "SELECT extract(epoch FROM stored_at - produced_at) FROM staging.order_events "
                    "WHERE kafka_topic = %s",
                    (stream_spec("orders").topic_name(lat),),
                ).fetchall()
            ]
        print(f"events                      : {n:,} order events ({os.cpu_count()} cores)")
        print(f"producer                    : {produce_rate:,.0f} events/s (idempotent, acks=all)")
        print(f"baseline raw consume        : {raw:,.0f} events/s (no parsing, no sink)")
        print(
            f"exactly-once sink           : {sink:,.0f} events/s sustained "
            f"({sink / raw:.0%} of raw; target >= 20,000)"
        )
        print(
            f"sink consumer CPU           : {cpu_us:.0f} us/event incl. start-up "
            f"(= {1e6 / cpu_us:,.0f} events/s per fully available core)"
        )
        print(f"exactly-once sink, 2 members: {sink2:,.0f} events/s sustained")
        print(
            f"latency @ {LATENCY_RATE}/s x {len(latencies):,}: p50 {_pct(latencies, 0.5):.0f} ms, "
            f"p99 {_pct(latencies, 0.99):.0f} ms, max {max(latencies):.0f} ms (target p99 < 500)"
        )
    finally:
        _drop_topics(settings)
        with psycopg.connect(admin, autocommit=True) as c:
            c.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(db)))


if __name__ == "__main__":
    main()
