"""The replay producer: Olist lifecycles to Kafka, in event-time order.

Pacing: ``speed`` compresses event time (speed 86400 plays a day per
second); ``rate`` caps events per second; neither means as fast as the
broker takes them. Fault knobs for tests and demos: ``duplicates`` re-sends
a fraction of events (same bytes, same event_id), ``out_of_order`` holds a
fraction back and sends them a few events later, ``poison`` adds N invalid
messages per stream (not JSON, schema-invalid, unknown type, oversized, in
turn). The producer is idempotent (``enable.idempotence``, ``acks=all``), so
its own retries never add duplicates; delivery errors are logged and counted.
"""

from __future__ import annotations

import contextlib
import json
import random
import re
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import Any

from olist_pipeline.config import Settings
from olist_pipeline.logs import get_logger
from olist_pipeline.metrics.metrics import metric
from olist_pipeline.stream.events import Event
from olist_pipeline.stream.kafka import producer_config
from olist_pipeline.stream.topics import STREAMS, stream_spec

log = get_logger(__name__)

POISON_KINDS: tuple[str, ...] = ("not_json", "schema_invalid", "unknown_event_type", "oversized")
OVERSIZED_BYTES = 200_000  # above the consumer's max_event_bytes, below the topic's limit


@dataclass
class StreamCounts:
    valid: int = 0  # distinct valid events delivered
    duplicates: int = 0  # extra copies delivered
    out_of_order: int = 0
    poison: int = 0  # invalid messages delivered
    failed: int = 0  # delivery reports with an error

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


@dataclass
class ProduceReport:
    streams: dict[str, StreamCounts] = field(default_factory=dict)
    seconds: float = 0.0
    undelivered: int = 0  # still queued when the flush timed out
    valid_ids: dict[str, set[str]] = field(default_factory=dict)

    def counts(self, stream: str) -> StreamCounts:
        return self.streams.setdefault(stream, StreamCounts())

    def as_dict(self) -> dict[str, Any]:
        total = sum(c.valid for c in self.streams.values())
        return {
            "streams": {s: c.as_dict() for s, c in sorted(self.streams.items())},
            "valid": total,
            "duplicates": sum(c.duplicates for c in self.streams.values()),
            "poison": sum(c.poison for c in self.streams.values()),
            "failed": sum(c.failed for c in self.streams.values()),
            "undelivered": self.undelivered,
            "seconds": round(self.seconds, 3),
            "events_per_second": round(total / self.seconds, 1) if self.seconds else None,
        }


@dataclass(frozen=True)
class Outgoing:
    stream: str
    key: str
    value: bytes | None  # None: encode the event at send time (fresh produced_at)
    event: Event | None
    kind: str  # valid | duplicate | poison


def poison_message(kind: str, rng: random.Random, template: Event) -> bytes:
    """An invalid message of ``kind``, built from a real event so it looks plausible."""
    doc = template.document(datetime.now(UTC))
    doc["event_id"] = str(uuid.UUID(int=rng.getrandbits(128)))  # not a UUIDv5 of a real fact
    order_id = str(doc["order_id"])
    if kind == "not_json":
        return b"{not json: " + order_id.encode() + b"\xff"
    if kind == "schema_invalid":
        doc["payload"] = {"unexpected": True}
        doc["sequence"] = "first"
        return json.dumps(doc).encode()
    if kind == "unknown_event_type":
        doc["event_type"] = "order.teleported"
        return json.dumps(doc).encode()
    if kind == "oversized":
        doc["payload"] = dict(doc["payload"], padding="x" * OVERSIZED_BYTES)
        return json.dumps(doc).encode()
    raise ValueError(f"unknown poison kind {kind!r}")


def plan(
    events: Sequence[Event],
    *,
    duplicates: float = 0.0,
    out_of_order: float = 0.0,
    poison: int = 0,
    seed: int = 0,
    streams: Sequence[str] = STREAMS,
) -> tuple[list[Outgoing], dict[str, dict[str, int]]]:
    """The exact send sequence (deterministic for a seed) and the injected counts."""
    rng = random.Random(seed)  # noqa: S311  # reproducible test faults
    selected = [e for e in events if e.stream in streams]
    out: list[Outgoing] = []
    held: list[tuple[int, Outgoing]] = []  # (release position, message)
    injected = {s: {"duplicate": 0, "out_of_order": 0} for s in streams}
    for e in selected:
        msg = Outgoing(e.stream, e.order_id, None, e, "valid")
        release = len(out)
        if out_of_order and rng.random() < out_of_order:
            release = len(out) + rng.randint(2, 50)
            held.append((release, msg))
            injected[e.stream]["out_of_order"] += 1
        else:
            out.append(msg)
        if duplicates and rng.random() < duplicates:
            # Re-sent after the original, like a retry after a lost ack would be.
            again = Outgoing(e.stream, e.order_id, None, e, "duplicate")
            held.append((release + rng.randint(1, 20), again))
            injected[e.stream]["duplicate"] += 1
        ready = [h for h in held if h[0] <= len(out)]
        if ready:
            held = [h for h in held if h[0] > len(out)]
            out.extend(m for _, m in sorted(ready, key=lambda h: h[0]))
    out.extend(m for _, m in sorted(held, key=lambda h: h[0]))
    for stream in streams:
        templates = [e for e in selected if e.stream == stream]
        if not templates:
            continue
        for i in range(poison):
            kind = POISON_KINDS[i % len(POISON_KINDS)]
            t = rng.choice(templates)
            bad = Outgoing(stream, t.order_id, poison_message(kind, rng, t), None, f"poison:{kind}")
            out.insert(rng.randint(0, len(out)), bad)
    return out, injected


class Pacer:
    """Sleeps so that sends follow event time / speed, and/or at most ``rate`` per second."""

    def __init__(
        self,
        speed: float | None,
        rate: float | None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.speed, self.rate = speed, rate
        self.clock, self.sleep = clock, sleep
        self.start = clock()
        self.first_event: datetime | None = None
        self.sent = 0

    def due(self, occurred_at: datetime | None) -> float:
        """Seconds after start at which the next message may go."""
        due = 0.0
        if self.speed and occurred_at is not None:
            if self.first_event is None:
                self.first_event = occurred_at
            due = (occurred_at - self.first_event).total_seconds() / self.speed
        if self.rate:
            due = max(due, self.sent / self.rate)
        return due

    def wait(self, occurred_at: datetime | None) -> None:
        delay = self.due(occurred_at) - (self.clock() - self.start)
        if delay > 0.0005:
            self.sleep(delay)
        self.sent += 1


_ID_ASSIGNED = re.compile(r'"idemp_state":\s*"Assigned"')


class _ProducerIdProbe:
    """Tells from librdkafka's statistics when the idempotent producer has its id.

    An idempotent producer sends nothing before the broker has assigned it a
    producer id; when its first request finds no connection up yet, librdkafka
    retries only after 500 ms. Measured: 3 fresh producers in 8 delivered their
    first message after ~500 ms, so the first half second of a replay waited
    in the local queue. Waiting for the id before the pacing clock starts
    keeps that start-up out of the events' latency.
    """

    def __init__(self) -> None:
        self.assigned = False

    def __call__(self, stats: str) -> None:
        # A substring test, not json.loads: the statistics keep coming every
        # 50 ms for the producer's life and can be large (per broker, per topic).
        if not self.assigned and _ID_ASSIGNED.search(stats):
            self.assigned = True

    def wait(self, producer: Any, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not self.assigned and time.monotonic() < deadline:
            producer.poll(0.01)  # serves the statistics callback
        if not self.assigned:  # no broker yet: the sends wait for it and report it
            log.warning("producer_id_not_assigned", waited_seconds=timeout)


def _ready_producer(settings: Settings, topics: list[str]) -> Any:
    """A producer that knows the partition leaders and has its producer id."""
    from confluent_kafka import Producer

    id_ready = _ProducerIdProbe()
    p = Producer(producer_config(settings, **{"statistics.interval.ms": 50, "stats_cb": id_ready}))
    # Learn the partition leaders before the first send: otherwise the first
    # events wait ~0.4 s in the local queue for metadata, which shows up as
    # end-to-end latency of the replay (measured by `make bench BENCH=stream`).
    for topic in topics:
        with contextlib.suppress(Exception):  # unreachable broker: the sends report it
            p.list_topics(topic, timeout=10)
    id_ready.wait(p, timeout=10)
    return p


def produce(  # noqa: PLR0915  # one send loop with its delivery bookkeeping
    settings: Settings,
    events: Sequence[Event],
    *,
    speed: float | None = None,
    rate: float | None = None,
    duplicates: float = 0.0,
    out_of_order: float = 0.0,
    poison: int = 0,
    seed: int = 0,
    schema_version: int = 1,
    streams: Sequence[str] = STREAMS,
    flush_timeout: float = 120.0,
    producer: Any = None,
) -> ProduceReport:
    """Send ``events`` (already in event-time order) with the injected faults."""

    messages, injected = plan(
        events,
        duplicates=duplicates,
        out_of_order=out_of_order,
        poison=poison,
        seed=seed,
        streams=streams,
    )
    report = ProduceReport()
    for s in streams:
        report.counts(s)
        report.valid_ids[s] = set()
    topics = {s: stream_spec(s).topic_name(settings) for s in streams}
    sent_metric = metric("olist_producer_events_total")
    delivery_metric = metric("olist_producer_delivery_seconds")
    p = producer or _ready_producer(settings, list(topics.values()))
    pacer = Pacer(speed, rate)
    t0 = time.monotonic()

    # Label children resolved once: the callback runs for every message.
    delivered = {s: sent_metric.labels(s, "delivered") for s in streams}
    by_kind = {(s, k): sent_metric.labels(s, k) for s in streams for k in ("duplicate", "poison")}
    latency = {s: delivery_metric.labels(s) for s in streams}

    def on_delivery(msg_info: Outgoing, err: Any, msg: Any) -> None:
        stream = msg_info.stream
        counts = report.streams[stream]
        if err is not None:
            counts.failed += 1
            sent_metric.labels(stream, "failed").inc()
            log.error(
                "delivery_failed",
                stream=stream,
                key=msg_info.key,
                kind=msg_info.kind,
                error=str(err),
            )
            return
        seconds = msg.latency()
        if seconds is not None:
            latency[stream].observe(seconds)
        delivered[stream].inc()
        kind = msg_info.kind
        if kind == "valid" and msg_info.event is not None:
            counts.valid += 1
            report.valid_ids[stream].add(msg_info.event.event_id)
        elif kind == "duplicate":
            counts.duplicates += 1
            by_kind[stream, "duplicate"].inc()
        else:
            counts.poison += 1
            by_kind[stream, "poison"].inc()

    encoded: dict[str, bytes] = {}
    for m in messages:
        pacer.wait(m.event.occurred_at if m.event is not None else None)
        if m.value is not None:
            value = m.value
        else:
            assert m.event is not None
            if m.kind == "duplicate" and m.event.event_id in encoded:
                value = encoded.pop(m.event.event_id)
            else:
                value = m.event.encode(datetime.now(UTC), schema_version)
                if duplicates:
                    encoded[m.event.event_id] = value
        while True:
            try:
                p.produce(
                    topics[m.stream],
                    key=m.key.encode(),
                    value=value,
                    on_delivery=partial(on_delivery, m),
                )
                break
            except BufferError:  # local queue full: serve delivery reports, then retry
                p.poll(0.05)
        p.poll(0)
    remaining = p.flush(flush_timeout)
    report.seconds = time.monotonic() - t0
    if remaining:
        report.undelivered = remaining
        log.error("flush_incomplete", undelivered=remaining)
    for s in streams:
        report.counts(s).out_of_order = injected[s]["out_of_order"]
        sent_metric.labels(s, "out_of_order").inc(injected[s]["out_of_order"])
    log.info("produce_done", **report.as_dict())
    return report
