"""Helpers for the stream integration tests: real consumer subprocesses, DLQ reads, counts."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import psycopg
from confluent_kafka import Consumer, TopicPartition

from olist_pipeline.config import Role, Settings
from olist_pipeline.stream.dlq import header_map
from olist_pipeline.stream.events import Event
from olist_pipeline.stream.kafka import producer_config
from olist_pipeline.stream.producer import ProduceReport, produce
from olist_pipeline.stream.source import load_events
from olist_pipeline.stream.topics import create_topics, stream_spec

REALDATA = Path(__file__).resolve().parents[2].parent / "shared" / "realdata"


def env_for(settings: Settings, **extra: str) -> dict[str, str]:
    """A child process's environment: this one's, with ``settings`` (their own inverse)."""
    env = {**os.environ, **settings.to_env(), "OLIST_LOG_FORMAT": "json"}
    env.pop("OLIST_LOG_FILE", None)
    env.update(extra)
    return env


class ConsumerProcess:
    """``olist stream consume`` as a real subprocess, its JSON log in a file."""

    def __init__(self, settings: Settings, log_dir: Path, name: str, *args: str) -> None:
        self.log_path = log_dir / f"{name}.log"
        self._log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "olist_pipeline.cli", "stream", "consume", *args],
            env=env_for(settings),
            stdout=self._log,
            stderr=self._log,
            stdin=subprocess.DEVNULL,
        )

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)
        self._log.close()

    def terminate(self, timeout: float = 30) -> int:
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout)
        self._log.close()
        return code

    def wait(self, timeout: float) -> int:
        code = self.proc.wait(timeout)
        self._log.close()
        return code

    def records(self) -> list[dict[str, Any]]:
        out = []
        for raw in self.log_path.read_text("utf-8", "replace").splitlines():
            line = raw.strip()
            if line.startswith("{"):
                try:
                    out.append(json.loads(line))
                except ValueError:
                    continue
        return out

    def events(self, name: str) -> list[dict[str, Any]]:
        return [r for r in self.records() if r.get("event") == name]

    def ensure_stopped(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        if not self._log.closed:
            self._log.close()


def prepare(settings: Settings) -> None:
    create_topics(settings)


def replay_events(limit_orders: int, data_dir: Path = REALDATA) -> list[Event]:
    events, _ = load_events(data_dir, limit_orders)
    return events


def produce_events(settings: Settings, events: list[Event], **knobs: Any) -> ProduceReport:
    report = produce(settings, events, **knobs)
    assert not report.undelivered and not report.as_dict()["failed"], report.as_dict()
    return report


def stored_ids(settings: Settings, stream: str) -> list[str]:
    """Event ids stored from this namespace's topic (other tests may share the database)."""
    table = "staging.order_events" if stream == "orders" else "staging.payment_events"
    topic = stream_spec(stream).topic_name(settings)
    with psycopg.connect(settings.postgres.dsn(Role.ADMIN)) as conn:
        rows = conn.execute(f"SELECT event_id FROM {table} WHERE kafka_topic = %s", (topic,))
        return [str(r[0]) for r in rows.fetchall()]


def stored_offsets(settings: Settings, stream: str) -> dict[int, int]:
    topic = stream_spec(stream).topic_name(settings)
    with psycopg.connect(settings.postgres.dsn(Role.ADMIN)) as conn:
        rows = conn.execute(
            "SELECT partition, next_offset FROM audit.stream_offsets WHERE topic = %s", (topic,)
        ).fetchall()
    return {int(p): int(o) for p, o in rows}


def end_offsets(settings: Settings, topic: str) -> dict[int, int]:
    c = Consumer({"bootstrap.servers": settings.kafka.bootstrap_servers, "group.id": "probe"})
    try:
        md = c.list_topics(topic, timeout=10)
        return {
            p: c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
            for p in md.topics[topic].partitions
        }
    finally:
        c.close()


def read_topic(settings: Settings, topic: str, timeout: float = 20) -> list[Any]:
    """Every message of ``topic`` (all partitions, from the start)."""
    ends = end_offsets(settings, topic)
    c = Consumer(
        {
            "bootstrap.servers": settings.kafka.bootstrap_servers,
            "group.id": f"reader-{time.time_ns()}",
            "enable.auto.commit": False,
        }
    )
    out: list[Any] = []
    try:
        c.assign([TopicPartition(topic, p, 0) for p in ends])
        want = sum(ends.values())
        deadline = time.monotonic() + timeout
        while len(out) < want and time.monotonic() < deadline:
            out += [m for m in c.consume(500, 0.5) if m.error() is None]
    finally:
        c.close()
    return out


def dlq_letters(settings: Settings, stream: str) -> list[tuple[dict[str, str], bytes | None]]:
    topic = stream_spec(stream).dlq_name(settings)
    return [(header_map(m.headers()), m.value()) for m in read_topic(settings, topic)]


def wait_until(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.25)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


class Progress:
    """Offsets the consumers have stored for one stream (its sink's own bookkeeping).

    One open connection, so a test can poll it every few milliseconds and act
    at a point of the consumer's progress instead of at a wall-clock time.
    """

    def __init__(self, settings: Settings, stream: str) -> None:
        self.topic = stream_spec(stream).topic_name(settings)
        self._conn = psycopg.connect(settings.postgres.dsn(Role.ADMIN), autocommit=True)

    def stored(self) -> int:
        row = self._conn.execute(
            "SELECT coalesce(sum(next_offset), 0) FROM audit.stream_offsets WHERE topic = %s",
            (self.topic,),
        ).fetchone()
        return int(row[0]) if row else 0

    def wait_for(self, target: int, timeout: float, what: str) -> int:
        deadline = time.monotonic() + timeout
        while (done := self.stored()) < target:
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout}s waiting for {what}: {done}")
            time.sleep(0.005)
        return done

    def close(self) -> None:
        self._conn.close()


class Feeder:
    """Produces ``events`` chunk after chunk, round after round, until stopped.

    A reliability test stops it only once its faults (kills, rebalances,
    outages) are done, so every fault meets a consumer that still has input,
    whatever the speed of the machine. Later rounds resend events already sent:
    duplicates the consumer has to drop. With ``max_backlog`` it waits while
    that many sent messages are not yet stored, so the topic stays small.
    """

    def __init__(
        self,
        settings: Settings,
        events: Sequence[Event],
        *,
        stream: str = "orders",
        chunk: int = 250,
        max_backlog: int | None = None,
        poison: int = 0,
        **knobs: Any,
    ) -> None:
        self.settings = settings
        self.stream = stream
        self.chunks = [list(events[i : i + chunk]) for i in range(0, len(events), chunk)]
        assert self.chunks, "nothing to feed"
        self.max_backlog = max_backlog
        self.poison = poison
        self.knobs = knobs
        self.valid_ids: set[str] = set()
        self.sent = 0  # messages delivered: valid, duplicate and poison
        self.rounds = 0
        self._halt = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="feeder", daemon=True)

    def start(self) -> Feeder:
        self._thread.start()
        return self

    def _run(self) -> None:
        from confluent_kafka import Producer

        progress = Progress(self.settings, self.stream) if self.max_backlog else None
        try:
            producer = Producer(producer_config(self.settings))
            i = 0
            while not self._halt.is_set():
                while progress and self.sent - progress.stored() > (self.max_backlog or 0):
                    if self._halt.wait(0.02):
                        return
                report = produce_events(
                    self.settings,
                    self.chunks[i % len(self.chunks)],
                    poison=self.poison if i == 0 else 0,
                    seed=i,
                    streams=(self.stream,),
                    producer=producer,
                    **self.knobs,
                )
                counts = report.counts(self.stream)
                self.valid_ids |= report.valid_ids[self.stream]
                self.sent += counts.valid + counts.duplicates + counts.poison
                i += 1
                self.rounds = i // len(self.chunks)
        except BaseException as exc:
            self._error = exc
        finally:
            if progress:
                progress.close()

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def halt(self, timeout: float = 180) -> None:
        """Stop after the chunk in flight (for a test's cleanup: raises nothing)."""
        self._halt.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def stop(self, timeout: float = 180) -> set[str]:
        """Stop after the chunk in flight; the valid event ids delivered."""
        self.halt(timeout)
        assert not self._thread.is_alive(), f"the feeder did not stop within {timeout}s"
        if self._error is not None:
            raise AssertionError(f"the feeder failed: {self._error!r}") from self._error
        return set(self.valid_ids)


def backlog(settings: Settings, stream: str) -> int:
    """Messages in the stream's topic that no consumer has stored yet."""
    topic = stream_spec(stream).topic_name(settings)
    # Stored first: the ends only grow, so read after they bound what was stored.
    stored = stored_offsets(settings, stream)
    ends = end_offsets(settings, topic)
    return sum(ends.values()) - sum(stored.get(p, 0) for p in ends)
