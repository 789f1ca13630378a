"""The exactly-once stream consumer: Kafka -> validate -> PostgreSQL, one group member.

Per batch (``consume(batch_size)``):
1. classify each message (validation module); invalid ones are published
   to the dead-letter topic with error headers and acknowledged there first;
2. one PostgreSQL transaction inserts the valid events
   (``ON CONFLICT (event_id) DO NOTHING``) and upserts the next offset of
   every partition in the batch (valid and dead-lettered alike, never
   backwards);
3. only then the offsets are committed to Kafka (asynchronously: they only
   keep broker-side lag accurate; the database is the source of truth).
On assignment the member seeks to the offsets stored in PostgreSQL, so a
crash anywhere (kill -9 included) replays at most the uncommitted batch,
whose rows the conflict clause absorbs. Transient database and broker
errors are retried with capped exponential backoff and jitter, holding the
batch in memory; SIGTERM finishes the batch, commits and leaves the group.
"""

from __future__ import annotations

import contextlib
import random
import signal
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import Any

from olist_pipeline.config import Settings
from olist_pipeline.errors import OlistError
from olist_pipeline.logs import get_logger
from olist_pipeline.metrics.metrics import metric
from olist_pipeline.stream.dlq import DeadLetter, publish_all
from olist_pipeline.stream.health import HealthServer, HealthState
from olist_pipeline.stream.kafka import producer_config, sink_consumer_config
from olist_pipeline.stream.sink import DATA_ERRORS, TRANSIENT_ERRORS, PostgresSink, Row
from olist_pipeline.stream.topics import stream_spec
from olist_pipeline.stream.validation import (
    DEFAULT_MAX_EVENT_BYTES,
    SINK_REJECTED,
    Rejection,
    Valid,
    Validator,
)

log = get_logger(__name__)


class StopRequested(Exception):
    """Raised inside a retry loop when shutdown was requested before it succeeded."""


@dataclass
class ConsumerOptions:
    stream: str
    group: str | None = None  # bare group name; namespaced by settings.kafka.group
    batch_size: int = 5000
    poll_timeout: float = 0.05
    max_idle: float | None = None  # exit after this many seconds without messages
    until_caught_up: bool = False  # exit once every assigned partition is at its end
    metrics_host: str = "127.0.0.1"
    metrics_port: int | None = None  # None: no HTTP server; 0: any free port
    max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES
    session_timeout_ms: int = 10_000
    instance_id: str | None = None  # static membership (group.instance.id), e.g. the pod name
    liveness_timeout: float = 60.0
    max_backoff: float = 5.0


@dataclass
class RunSummary:
    batches: int = 0
    stored: int = 0
    duplicates: int = 0
    dead_lettered: int = 0
    retries: int = 0
    exit_reason: str = ""
    metrics_port: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class _Batch:
    rows: list[Row] = field(default_factory=list)
    rejects: list[DeadLetter] = field(default_factory=list)
    next_offsets: dict[int, int] = field(default_factory=dict)
    newest_produced: str = ""
    newest_occurred: str = ""


def consumer_config(settings: Settings, group: str, opts: ConsumerOptions) -> dict[str, Any]:
    return sink_consumer_config(
        settings, group, session_timeout_ms=opts.session_timeout_ms, instance_id=opts.instance_id
    )


def _ts(text: str) -> float | None:
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


class StreamConsumer:
    def __init__(
        self,
        settings: Settings,
        opts: ConsumerOptions,
        *,
        consumer_factory: Callable[[dict[str, Any]], Any] | None = None,
        producer_factory: Callable[[dict[str, Any]], Any] | None = None,
    ) -> None:
        from confluent_kafka import Consumer, Producer

        self.settings = settings
        self.opts = opts
        self.spec = stream_spec(opts.stream)
        self.stream = opts.stream
        self.topic = self.spec.topic_name(settings)
        self.dlq_topic = self.spec.dlq_name(settings)
        self.group = settings.kafka.group(opts.group) if opts.group else self.spec.group(settings)
        self.validator = Validator(opts.stream, opts.max_event_bytes)
        self.sink = PostgresSink(settings, opts.stream)
        self.health = HealthState(liveness_timeout=opts.liveness_timeout)
        self.summary = RunSummary()
        self.positions: dict[int, int] = {}  # partition -> next offset (as stored)
        self.stopping = threading.Event()
        make_consumer = consumer_factory or Consumer
        make_producer = producer_factory or Producer
        self.consumer = make_consumer(consumer_config(settings, self.group, opts))
        self.dlq_producer = make_producer(producer_config(settings, **{"linger.ms": 0}))
        self._rng = random.Random()  # noqa: S311  # jitter, not cryptography
        s = opts.stream
        self.m_messages = metric("olist_consumer_messages_total")
        self.m_batch = metric("olist_consumer_batch_seconds").labels(s)
        self.m_event_lag = metric("olist_consumer_event_lag_seconds").labels(s)
        self.m_lag = metric("olist_consumer_lag_messages")
        self.m_last_event = metric("olist_consumer_last_event_timestamp_seconds").labels(s)
        self.m_last_commit = metric("olist_consumer_last_commit_timestamp_seconds").labels(s)
        self.m_dlq = metric("olist_consumer_dlq_total")
        self.m_retries = metric("olist_consumer_retries_total")
        self.m_rebalances = metric("olist_consumer_rebalances_total")
        for outcome in ("stored", "duplicate", "dead_lettered"):
            self.m_messages.labels(s, outcome)
        self._server: HealthServer | None = None
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sink")
        self._inflight: Future[None] | None = None
        self._inflight_parts: list[int] = []
        self._pending_commit: dict[int, int] = {}
        self._pending_lock = threading.Lock()
        self._install_signals()  # as early as possible: a SIGTERM now still stops cleanly

    # ---- retries ----------------------------------------------------------
    def _retry(self, reason: str, attempt: int, exc: BaseException | None) -> None:
        self.summary.retries += 1
        self.m_retries.labels(self.stream, reason).inc()
        delay = min(self.opts.max_backoff, 0.1 * 2 ** min(attempt, 10))
        delay *= 0.5 + self._rng.random() / 2  # jitter: members do not retry in lockstep
        log.warning(
            "transient_error_retrying",
            reason=reason,
            attempt=attempt,
            delay=round(delay, 3),
            error=str(exc)[:300] if exc else None,
        )
        end = time.monotonic() + delay
        while time.monotonic() < end:
            self.health.beat()
            if self.stopping.is_set() and attempt >= 3:
                raise StopRequested
            time.sleep(min(0.1, max(0.0, end - time.monotonic())))

    def _db(self, what: Callable[[], Any]) -> Any:
        attempt = 0
        while True:
            try:
                result = what()
                self.health.db_ok = True
                return result
            except TRANSIENT_ERRORS as exc:
                self.health.db_ok = False
                self.sink.reset()
                self._retry("database", attempt, exc)
                attempt += 1

    # ---- rebalance callbacks -----------------------------------------------
    def _on_assign(self, consumer: Any, partitions: list[Any]) -> None:
        from confluent_kafka import OFFSET_BEGINNING

        self._drain()  # offsets of the batch in flight must be stored before we read them
        parts = [tp.partition for tp in partitions]
        try:
            stored = self._db(lambda: self.sink.stored_offsets(self.group, self.topic, parts))
        except StopRequested:
            stored = {}
        for tp in partitions:
            tp.offset = stored.get(tp.partition, OFFSET_BEGINNING)
            self.positions[tp.partition] = stored.get(tp.partition, -1)
        consumer.assign(partitions)
        self.health.assigned = len(self.positions)
        self.m_rebalances.labels(self.stream, "assign").inc()
        log.info(
            "partitions_assigned",
            group=self.group,
            topic=self.topic,
            offsets={p: stored.get(p, "beginning") for p in parts},
        )

    def _on_revoke(self, consumer: Any, partitions: list[Any]) -> None:
        # Which partitions the batch still being written holds: it may straddle
        # the revocation (some of its partitions move, some stay); it is
        # finished before the partitions go, so the next owner starts after it.
        inflight = self._inflight
        straddling = self._inflight_parts if inflight is not None and not inflight.done() else []
        self._drain()
        for tp in partitions:
            self.positions.pop(tp.partition, None)
            with contextlib.suppress(KeyError):
                self.m_lag.remove(self.stream, self.topic, str(tp.partition))
        self.health.assigned = len(self.positions)
        self.m_rebalances.labels(self.stream, "revoke").inc()
        log.info(
            "partitions_revoked",
            partitions=[tp.partition for tp in partitions],
            inflight_partitions=straddling,
        )

    # ---- one batch --------------------------------------------------------------
    def _classify(self, msgs: list[Any]) -> _Batch:
        from confluent_kafka import KafkaError

        batch = _Batch()
        for msg in msgs:
            err = msg.error()
            if err is not None:
                if err.code() != KafkaError._PARTITION_EOF:
                    self.m_retries.labels(self.stream, "broker").inc()
                    log.warning("consume_error", error=str(err))
                continue
            p, off = msg.partition(), msg.offset()
            batch.next_offsets[p] = max(batch.next_offsets.get(p, -1), off + 1)
            result = self.validator.check(msg.value())
            if isinstance(result, Valid):
                batch.rows.append(Row(result.text, p, off))
                doc = result.document
                batch.newest_produced = max(batch.newest_produced, doc["produced_at"])
                batch.newest_occurred = max(batch.newest_occurred, doc["occurred_at"])
            else:
                assert isinstance(result, Rejection)
                batch.rejects.append(
                    DeadLetter(
                        msg.key(),
                        msg.value(),
                        result.error_class,
                        result.message,
                        msg.topic(),
                        p,
                        off,
                    )
                )
        return batch

    def _dead_letter(self, letters: list[DeadLetter]) -> None:
        if not letters:
            return
        now = datetime.now(UTC)
        ok = publish_all(
            self.dlq_producer,
            self.dlq_topic,
            [(d.key, d.value, d.headers(self.group, self.stream, now)) for d in letters],
            should_stop=self.stopping.is_set,
            on_retry=lambda reason: self._retry("dlq", 3, None),
            max_backoff=self.opts.max_backoff,
        )
        if not ok:
            raise StopRequested
        for d in letters:
            self.m_dlq.labels(self.stream, d.error_class).inc()
            log.warning(
                "dead_lettered",
                error_class=d.error_class,
                error=d.message[:200],
                partition=d.partition,
                offset=d.offset,
            )

    def _write(self, batch: _Batch) -> int:
        """Store the batch; rows the database refuses are dead-lettered and the rest retried."""
        while True:
            try:
                return int(self._db(partial(self._store, batch.rows, batch.next_offsets)))
            except DATA_ERRORS as exc:
                self.sink.reset()
                bad = self._db(lambda: self.sink.find_rejects(self.topic, batch.rows))
                if not bad:
                    raise OlistError(
                        f"the database refused a batch but no single row: {exc}"
                    ) from exc
                letters = [
                    DeadLetter(
                        None,
                        r.doc.encode(),
                        SINK_REJECTED,
                        bad[i],
                        self.topic,
                        r.partition,
                        r.offset,
                    )
                    for i, r in enumerate(batch.rows)
                    if i in bad
                ]
                self._dead_letter(letters)
                batch.rejects.extend(letters)
                batch.rows = [r for i, r in enumerate(batch.rows) if i not in bad]

    def _store(self, rows: list[Row], next_offsets: dict[int, int]) -> int:
        return self.sink.write(self.group, self.topic, rows, next_offsets)

    def _process(self, msgs: list[Any]) -> None:
        """Classify this batch while the previous one is still being written, then hand it on.

        One writer thread, one batch in flight: batches reach PostgreSQL and
        Kafka strictly in order, and Python parsing overlaps the database's
        work instead of waiting for it.
        """
        t0 = time.monotonic()
        batch = self._classify(msgs)
        if not batch.next_offsets:
            return
        self._drain()
        self._inflight_parts = sorted(batch.next_offsets)
        self._inflight = self._writer.submit(self._commit_batch, batch, t0)

    def _drain(self) -> None:
        """Wait for the batch in flight, then commit its offsets to Kafka (polling thread only).

        Re-raises what stopped the batch (StopRequested, ...).
        """
        from confluent_kafka import TopicPartition

        inflight, self._inflight = self._inflight, None
        if inflight is not None:
            inflight.result()
        with self._pending_lock:
            pending, self._pending_commit = self._pending_commit, {}
        if not pending:
            return
        # The database holds the truth now; the Kafka commit only keeps
        # broker-side lag (kafka_exporter) accurate, so its failure is harmless.
        try:
            self.consumer.commit(
                offsets=[TopicPartition(self.topic, p, o) for p, o in pending.items()],
                asynchronous=True,
            )
        except Exception as exc:  # KafkaException, e.g. a partition no longer ours
            log.info("kafka_commit_skipped", error=str(exc)[:200])
        self._update_lag(cached=True)

    def _commit_batch(self, batch: _Batch, t0: float) -> None:

        self._dead_letter(batch.rejects)
        inserted = self._write(batch)
        committed_at = time.time()
        # The database holds the truth now; the Kafka commit only keeps
        # broker-side lag (kafka_exporter) accurate, so its failure is harmless.
        for p, o in batch.next_offsets.items():
            if o > self.positions.get(p, -1):
                self.positions[p] = o
        # The Kafka commit is left to the polling thread: librdkafka blocks a
        # commit from another thread while a rebalance callback runs there.
        with self._pending_lock:
            for p, o in batch.next_offsets.items():
                self._pending_commit[p] = max(self._pending_commit.get(p, -1), o)
        s = self.stream
        valid = len(batch.rows)
        self.m_messages.labels(s, "stored").inc(inserted)
        self.m_messages.labels(s, "duplicate").inc(valid - inserted)
        self.m_messages.labels(s, "dead_lettered").inc(len(batch.rejects))
        self.summary.batches += 1
        self.summary.stored += inserted
        self.summary.duplicates += valid - inserted
        self.summary.dead_lettered += len(batch.rejects)
        self.m_last_commit.set(committed_at)
        produced = _ts(batch.newest_produced) if batch.newest_produced else None
        if produced is not None:
            self.m_event_lag.set(max(0.0, committed_at - produced))
        occurred = _ts(batch.newest_occurred) if batch.newest_occurred else None
        if occurred is not None:
            self.m_last_event.set(occurred)
        self.m_batch.observe(time.monotonic() - t0)

    def _poll(self) -> list[Any]:
        """The next batch: wait up to ``poll_timeout`` for one message, then take what is
        already fetched, up to ``batch_size``, without waiting.

        ``consume(batch_size, timeout)`` alone returns only when the batch is full
        or the timeout is over: at 2,000 events/s with batches of 1,000 that held
        every event up to the full timeout. Batches still grow with the load: what
        arrives while the previous batch is written is taken at once next time.
        """
        msgs: list[Any] = self.consumer.consume(1, self.opts.poll_timeout)
        if msgs and self.opts.batch_size > 1:
            msgs += self.consumer.consume(self.opts.batch_size - 1, 0)
        return msgs

    # ---- lag, idle, caught up ----------------------------------------------
    def _update_lag(self, cached: bool) -> bool:
        """Refresh the lag gauges; True if every assigned partition is at its end."""
        from confluent_kafka import TopicPartition

        if not self.positions:
            return False
        caught_up = True
        for p, pos in list(self.positions.items()):
            try:
                lo, hi = self.consumer.get_watermark_offsets(
                    TopicPartition(self.topic, p), timeout=5, cached=cached
                )
            except Exception:  # broker unreachable: lag unknown this time
                return False
            if hi is None or hi < 0:
                caught_up = False
                continue
            lag = max(0, hi - max(pos, lo))
            self.m_lag.labels(self.stream, self.topic, str(p)).set(lag)
            caught_up = caught_up and lag == 0
        return caught_up

    def request_stop(self, *_args: Any) -> None:
        if not self.stopping.is_set():
            log.info("stop_requested")
        self.stopping.set()

    def _install_signals(self) -> None:
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, self.request_stop)
            signal.signal(signal.SIGINT, self.request_stop)

    def run(self) -> RunSummary:
        if self.opts.metrics_port is not None:
            self._server = HealthServer(self.health, self.opts.metrics_host, self.opts.metrics_port)
            self._server.start()
            self.summary.metrics_port = self._server.port
            log.info(
                "http_listening",
                host=self.opts.metrics_host,
                port=self._server.port,
                paths=["/metrics", "/healthz", "/readyz"],
            )
        try:
            self._db(self.sink.ping)
        except StopRequested:
            self.summary.exit_reason = "stopped"
            return self.summary
        self.consumer.subscribe(
            [self.topic],
            on_assign=self._on_assign,
            on_revoke=self._on_revoke,
            on_lost=self._on_revoke,
        )
        log.info("consumer_started", stream=self.stream, topic=self.topic, group=self.group)
        last_message = time.monotonic()
        last_idle_check = 0.0
        try:
            while not self.stopping.is_set():
                self.health.beat()
                msgs = self._poll()
                if msgs:
                    last_message = time.monotonic()
                    self._process(msgs)
                    continue
                self._drain()  # idle: surface the last batch's outcome now
                now = time.monotonic()
                if now - last_idle_check >= 1.0:
                    last_idle_check = now
                    try:
                        self._db(self.sink.ping) if now - last_message > 5 else None
                    except StopRequested:
                        break
                    caught_up = self._update_lag(cached=not self.opts.until_caught_up)
                    if self.opts.until_caught_up and caught_up:
                        self.summary.exit_reason = "caught_up"
                        break
                if self.opts.max_idle is not None and now - last_message >= self.opts.max_idle:
                    self.summary.exit_reason = "idle"
                    break
            else:
                self.summary.exit_reason = "stopped"
            self._drain()  # SIGTERM: finish the batch in flight, then leave
        except StopRequested:
            self.summary.exit_reason = "stopped"
        finally:
            try:
                with contextlib.suppress(StopRequested):
                    self._drain()
            finally:
                self._close()
        log.info("consumer_finished", **self.summary.as_dict())
        return self.summary

    def _close(self) -> None:
        try:
            self.consumer.close()  # leaves the group: the rebalance starts at once
        except Exception as exc:
            log.warning("consumer_close_failed", error=str(exc)[:200])
        self.dlq_producer.flush(5)
        self._writer.shutdown(wait=True)
        self.sink.close()
        if self._server is not None:
            self._server.stop()
