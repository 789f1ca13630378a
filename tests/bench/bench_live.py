"""Live sales benchmark: events/s the Structured Streaming job sustains, next to the
exactly-once consumer sink on the same topic in the same run, and produce-to-commit delay.

Runs on the local stack (``olist stack up``) in its own database and Kafka namespace, dropped
afterwards. Figures:
- consumer sink (baseline): ``olist stream consume --until-caught-up`` on the orders topic,
  measured as bench_stream does (rows inside the span of batch starts / span);
- live job: ``olist stream live --until-caught-up`` on the same events, the events of every
  micro-batch but the first over the span between the first and the last commit
  (``marts.live_batches.committed_at``, the clock at the end of a batch's work), so Spark's
  start-up and the first batch's planning are not counted;
- delay: the live job running (trigger 0.5 s) while events arrive at a fixed rate; its gauge
  ``olist_live_event_lag_seconds`` (newest event's produced_at to the batch commit) sampled
  after every batch.
Writes the figures to .local/bench/live.json.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from pathlib import Path

import psycopg
from psycopg import sql

from olist_pipeline.config import Role, Settings, load_settings
from olist_pipeline.db.migrate import migrate
from olist_pipeline.stream.producer import produce
from olist_pipeline.stream.topics import create_topics
from tests.bench.bench_stream import _drop_topics, _events, _sink_rate

EVENTS = int(os.environ.get("BENCH_LIVE_EVENTS", "40000"))
PER_TRIGGER = int(os.environ.get("BENCH_LIVE_PER_TRIGGER", "5000"))
DELAY_RATE = 500
DELAY_SECONDS = int(os.environ.get("BENCH_LIVE_DELAY_SECONDS", "20"))


def _env(settings: Settings) -> dict[str, str]:
    return {
        **os.environ,
        "OLIST_PG_DATABASE": settings.postgres.database,
        "OLIST_KAFKA_NAMESPACE": settings.kafka.namespace,
        "OLIST_LOG_LEVEL": "WARNING",
        "OLIST_SPARK_DRIVER_MEMORY": os.environ.get("OLIST_SPARK_DRIVER_MEMORY", "2g"),
    }


def _live(settings: Settings, log: Path, *args: str) -> subprocess.Popen[bytes]:
    # The events repeat the real lifecycles under fresh ids, so event time restarts with every
    # copy: a watermark wider than the data keeps them all on time (lateness is not measured).
    wide = ("--watermark-delay", "36500d")
    return subprocess.Popen(
        [sys.executable, "-m", "olist_pipeline.cli", "stream", "live", *wide, *args],
        env=_env(settings),
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )


def _live_rate(settings: Settings) -> tuple[int, float, int]:
    with psycopg.connect(settings.postgres.dsn(Role.ADMIN)) as conn:
        rows = conn.execute(
            "SELECT events, committed_at FROM marts.live_batches WHERE events > 0 ORDER BY batch_id"
        ).fetchall()
    total = sum(int(r[0]) for r in rows)
    if len(rows) < 2:
        return total, float("nan"), len(rows)
    span = (rows[-1][1] - rows[0][1]).total_seconds()
    return total, sum(int(r[0]) for r in rows[1:]) / span, len(rows)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _gauge(port: int, name: str) -> float | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as r:
            for line in r.read().decode().splitlines():
                if line.startswith(name + " "):
                    return float(line.split()[-1])
    except OSError:
        return None
    return None


def main() -> None:
    base = load_settings()
    db = f"olist_bench_{uuid.uuid4().hex[:8]}"
    settings = base.with_database(db).with_kafka_namespace(f"bench{uuid.uuid4().hex[:8]}.")
    admin = base.postgres.dsn(Role.ADMIN, "postgres")
    migrate(settings)
    logs = Path(tempfile.mkdtemp(prefix="bench-live-"))
    try:
        create_topics(settings)
        events = _events(EVENTS)
        n = produce(settings, events, streams=("orders",)).streams["orders"].valid

        sink_proc = subprocess.Popen(
            [sys.executable, "-m", "olist_pipeline.cli", "stream", "consume", "--stream",
             "orders", "--until-caught-up"],
            env=_env(settings), stdout=(logs / "sink.log").open("wb"), stderr=subprocess.STDOUT,
        )  # fmt: skip
        assert sink_proc.wait(900) == 0, (logs / "sink.log").read_text()[-2000:]
        rows, sink = _sink_rate(settings)
        assert rows == n, (rows, n)

        live_proc = _live(
            settings, logs / "live.log", "--until-caught-up", "--checkpoint",
            str(logs / "checkpoint"), "--max-offsets-per-trigger", str(PER_TRIGGER),
            "--trigger-seconds", "0",
        )  # fmt: skip
        assert live_proc.wait(1800) == 0, (logs / "live.log").read_text()[-2000:]
        applied, live, batches = _live_rate(settings)
        assert applied == n, (applied, n)

        # Delay: the job running, events arriving at a fixed rate.
        port = _free_port()
        running = _live(
            settings, logs / "live-delay.log", "--checkpoint", str(logs / "checkpoint"),
            "--trigger-seconds", "0.5", "--metrics-port", str(port),
        )  # fmt: skip
        # The clock starts once the query reports progress (Spark start-up excluded).
        ready = time.monotonic() + 300
        while not _gauge(port, "olist_live_last_progress_timestamp_seconds"):
            assert time.monotonic() < ready, (logs / "live-delay.log").read_text()[-2000:]
            time.sleep(0.5)
        later = _events(DELAY_RATE * DELAY_SECONDS, prefix="f")
        samples: list[float] = []
        sent: list[int] = []
        # produce() blocks while it paces; sample the gauge meanwhile.
        feeder = threading.Thread(
            target=lambda: sent.append(
                produce(settings, later, rate=DELAY_RATE, streams=("orders",))
                .streams["orders"]
                .valid
            )
        )
        feeder.start()
        deadline = time.monotonic() + DELAY_SECONDS + 90
        seen = 0.0
        while time.monotonic() < deadline:
            value = _gauge(port, "olist_live_event_lag_seconds")
            if value is not None and value > 0 and value != seen:
                samples.append(value)
                seen = value
            if sent and _live_rate(settings)[0] >= n + sent[0]:
                value = _gauge(port, "olist_live_event_lag_seconds")
                if value is not None and value > 0 and value != seen:
                    samples.append(value)
                break
            time.sleep(0.2)
        feeder.join()
        running.send_signal(signal.SIGTERM)
        running.wait(120)

        samples.sort()
        p50 = samples[len(samples) // 2] if samples else float("nan")
        worst = samples[-1] if samples else float("nan")
        load = [round(x, 2) for x in os.getloadavg()]
        print(f"events                      : {n:,} order events ({os.cpu_count()} cores)")
        print(f"load average (1/5/15 min)   : {load[0]} / {load[1]} / {load[2]} at the end")
        print(f"baseline consumer sink      : {sink:,.0f} events/s sustained (exactly-once)")
        print(
            f"live job (Structured Str.)  : {live:,.0f} events/s sustained over {batches} "
            f"micro-batches of <= {PER_TRIGGER:,} ({live / sink:.0%} of the sink)"
        )
        print(
            f"live delay @ {DELAY_RATE}/s         : newest event produce-to-commit p50 "
            f"{p50:.2f} s, max {worst:.2f} s over {len(samples)} batches (trigger 0.5 s)"
        )
        out = Path(settings.local.state_dir) / "bench" / "live.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(
            json.dumps(
                {
                    "events": n,
                    "cores": os.cpu_count(),
                    # The machine is shared: the figures mean little without it.
                    "load_average": load,
                    "sink_events_per_second": sink,
                    "live_events_per_second": live,
                    "live_batches": batches,
                    "max_offsets_per_trigger": PER_TRIGGER,
                    "delay_rate": DELAY_RATE,
                    "delay_p50_seconds": p50,
                    "delay_max_seconds": worst,
                    "delay_samples": len(samples),
                },
                indent=2,
            )
        )
        print(f"written                     : {out}")
    finally:
        _drop_topics(settings)
        with psycopg.connect(admin, autocommit=True) as c:
            c.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(db)))


if __name__ == "__main__":
    main()
