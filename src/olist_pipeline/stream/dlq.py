"""Dead-letter topics: what goes in (with error headers) and how it comes back.

A dead letter keeps the original key and value untouched and carries its
story in headers: ``x-error-class``, ``x-error-message``, ``x-original-topic``,
``x-original-partition``, ``x-original-offset``, ``x-consumer-group``,
``x-stream``, ``x-failed-at``. Publishing is at-least-once (a consumer killed
between the DLQ flush and its database commit dead-letters the same message
again on restart); the original coordinates identify such repeats, and the
replay command skips them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from olist_pipeline.config import Settings
from olist_pipeline.logs import get_logger
from olist_pipeline.stream.events import iso_micro
from olist_pipeline.stream.topics import stream_spec

log = get_logger(__name__)

H_CLASS = "x-error-class"
H_MESSAGE = "x-error-message"
H_TOPIC = "x-original-topic"
H_PARTITION = "x-original-partition"
H_OFFSET = "x-original-offset"
H_GROUP = "x-consumer-group"
H_STREAM = "x-stream"
H_FAILED_AT = "x-failed-at"
H_REPLAYED_FROM = "x-replayed-from"


@dataclass(frozen=True, slots=True)
class DeadLetter:
    key: bytes | None
    value: bytes | None
    error_class: str
    message: str
    topic: str
    partition: int
    offset: int

    def headers(
        self, group: str, stream: str, now: datetime | None = None
    ) -> list[tuple[str, bytes]]:
        return [
            (H_CLASS, self.error_class.encode()),
            (H_MESSAGE, self.message.encode("utf-8", "backslashreplace")[:1000]),
            (H_TOPIC, self.topic.encode()),
            (H_PARTITION, str(self.partition).encode()),
            (H_OFFSET, str(self.offset).encode()),
            (H_GROUP, group.encode()),
            (H_STREAM, stream.encode()),
            (H_FAILED_AT, iso_micro(now or datetime.now(UTC)).encode()),
        ]


def header_map(headers: Sequence[tuple[str, Any]] | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for k, v in headers or []:
        out[k] = v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v or "")
    return out


def publish_all(
    producer: Any,
    topic: str,
    messages: Sequence[tuple[bytes | None, bytes | None, list[tuple[str, bytes]]]],
    *,
    should_stop: Callable[[], bool] = lambda: False,
    on_retry: Callable[[str], None] = lambda _reason: None,
    flush_timeout: float = 10.0,
    max_backoff: float = 5.0,
) -> bool:
    """Produce every message and wait until each is acknowledged, retrying failures.

    Returns False only if ``should_stop`` turned true before all were delivered.
    """
    pending = list(messages)
    backoff = 0.2
    while pending:
        failed: list[int] = []

        def report(index: int, failed: list[int] = failed) -> Callable[[Any, Any], None]:
            def cb(err: Any, _msg: Any) -> None:
                if err is not None:
                    failed.append(index)
                    log.warning("dlq_delivery_failed", topic=topic, error=str(err))

            return cb

        for i, (key, value, headers) in enumerate(pending):
            while True:
                try:
                    producer.produce(
                        topic, key=key, value=value, headers=headers, on_delivery=report(i)
                    )
                    break
                except BufferError:
                    producer.poll(0.1)
        left = producer.flush(flush_timeout)
        if left == 0 and not failed:
            return True
        if left:  # unacknowledged after the timeout: wait for their final reports
            while producer.flush(flush_timeout) and not should_stop():
                on_retry("broker")
        pending = [pending[i] for i in sorted(set(failed))]
        if not pending:
            return True
        on_retry("broker")
        if should_stop():
            return False
        time.sleep(backoff)
        backoff = min(backoff * 2, max_backoff)
    return True


@dataclass
class ReplayReport:
    read: int = 0
    republished: int = 0
    skipped_repeat: int = 0  # same original coordinates seen before in this DLQ
    skipped_filter: int = 0  # error class not selected
    still_invalid: int = 0  # would fail validation again; left in the DLQ
    by_class: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


FIXES: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {}


def fix(name: str) -> Callable[[Callable[[dict[str, Any]], dict[str, Any]]], Any]:
    def register(fn: Callable[[dict[str, Any]], dict[str, Any]]) -> Any:
        FIXES[name] = fn
        return fn

    return register


@fix("drop-unknown-fields")
def _drop_unknown_fields(doc: dict[str, Any]) -> dict[str, Any]:
    """Remove envelope and payload fields the event's schema version does not declare."""
    from olist_pipeline.contracts import events as contracts

    stream = "payments" if str(doc.get("event_type", "")).startswith("payment.") else "orders"
    version = doc.get("schema_version")
    if type(version) is not int or version not in contracts.versions(stream):
        return doc
    props = contracts.schema(stream, version)["properties"]
    out = {k: v for k, v in doc.items() if k in props}
    payload_props = props["payload"].get("properties", {})
    if isinstance(out.get("payload"), dict):
        out["payload"] = {k: v for k, v in out["payload"].items() if k in payload_props}
    return out


@fix("latest-schema-version")
def _latest_schema_version(doc: dict[str, Any]) -> dict[str, Any]:
    """Declare the newest schema version (for events written against an unknown one)."""
    from olist_pipeline.contracts import events as contracts

    stream = "payments" if str(doc.get("event_type", "")).startswith("payment.") else "orders"
    return {**doc, "schema_version": contracts.latest_version(stream)}


# A letter to re-publish: key, fixed value, headers.
_Outgoing = tuple[bytes | None, bytes | None, list[tuple[str, bytes]]]


def replay(
    settings: Settings,
    stream: str,
    *,
    fixes: Sequence[str] = (),
    only_classes: Sequence[str] = (),
    group: str | None = None,
    timeout: float = 30.0,
    max_event_bytes: int | None = None,
) -> ReplayReport:
    """Re-publish the dead letters of ``stream`` to its main topic, once each.

    Reads the DLQ up to its end as of the start, under its own consumer group
    (committed after publishing, so a second run continues where the first
    stopped). Each letter is fixed by the named ``fixes``, validated again,
    and re-published only if it now passes; the sink's event_id key makes a
    re-published event land once even if it was already stored.
    """
    from confluent_kafka import Consumer, Producer, TopicPartition

    from olist_pipeline.stream.kafka import producer_config, reader_config
    from olist_pipeline.stream.validation import DEFAULT_MAX_EVENT_BYTES, Validator

    _require_known(fixes)
    spec = stream_spec(stream)
    dlq_topic, main_topic = spec.dlq_name(settings), spec.topic_name(settings)
    group_id = group or settings.kafka.group(f"olist.{stream}.dlq-replay")
    judge = _Judge(
        Validator(stream, max_event_bytes or DEFAULT_MAX_EVENT_BYTES),
        dlq_topic,
        fixes,
        only_classes,
    )
    consumer = Consumer(reader_config(settings, group_id))
    producer = Producer(producer_config(settings))
    try:
        out, positions = _read_letters(consumer, dlq_topic, judge, timeout)
        if not publish_all(producer, main_topic, out):
            raise RuntimeError("re-publishing dead letters did not complete")
        judge.report.republished = len(out)
        if positions:
            consumer.commit(
                offsets=[TopicPartition(dlq_topic, p, o) for p, o in positions.items()],
                asynchronous=False,
            )
    finally:
        consumer.close()
    log.info("dlq_replay_done", stream=stream, **judge.report.as_dict())
    return judge.report


def _require_known(fixes: Sequence[str]) -> None:
    unknown = [f for f in fixes if f not in FIXES]
    if unknown:
        from olist_pipeline.errors import UsageError

        raise UsageError(f"unknown fix(es) {unknown}; known: {', '.join(sorted(FIXES))}")


def _read_letters(
    consumer: Any, dlq_topic: str, judge: _Judge, timeout: float
) -> tuple[list[_Outgoing], dict[int, int]]:
    """Every letter up to the DLQ's end as of now, from the group's committed positions:
    the letters to re-publish, and the next offset per partition to commit."""
    from confluent_kafka import OFFSET_BEGINNING, TopicPartition

    md = consumer.list_topics(dlq_topic, timeout=timeout)
    partitions = sorted(md.topics[dlq_topic].partitions) if dlq_topic in md.topics else []
    ends = {
        p: consumer.get_watermark_offsets(TopicPartition(dlq_topic, p), timeout=timeout)[1]
        for p in partitions
    }
    committed = consumer.committed(
        [TopicPartition(dlq_topic, p) for p in partitions], timeout=timeout
    )
    start = {tp.partition: (tp.offset if tp.offset >= 0 else OFFSET_BEGINNING) for tp in committed}
    todo = {p for p in partitions if ends[p] > max(start[p], 0)}
    consumer.assign([TopicPartition(dlq_topic, p, start[p]) for p in partitions])
    out: list[_Outgoing] = []
    positions: dict[int, int] = {}
    deadline = time.monotonic() + timeout
    while todo and time.monotonic() < deadline:
        for msg in consumer.consume(500, 1.0):
            if msg.error():
                continue
            p, off = int(msg.partition() or 0), int(msg.offset() or 0)
            positions[p] = off + 1
            if off + 1 >= ends[p]:
                todo.discard(p)
            if off >= ends[p]:
                continue
            letter = judge(msg, p, off)
            if letter is not None:
                out.append(letter)
    return out, positions


class _Judge:
    """Decides each letter's fate (repeat, filtered out, still invalid, re-published)
    and counts it in the report."""

    def __init__(
        self, validator: Any, dlq_topic: str, fixes: Sequence[str], only_classes: Sequence[str]
    ) -> None:
        self.validator = validator
        self.dlq_topic = dlq_topic
        self.fixes = fixes
        self.only_classes = only_classes
        self.report = ReplayReport()
        self.seen: set[tuple[str, str, str]] = set()

    def __call__(self, msg: Any, partition: int, offset: int) -> _Outgoing | None:
        from olist_pipeline.stream.validation import Valid

        report = self.report
        report.read += 1
        h = header_map(msg.headers())
        cls = h.get(H_CLASS, "")
        report.by_class[cls] = report.by_class.get(cls, 0) + 1
        coords = (h.get(H_TOPIC, ""), h.get(H_PARTITION, ""), h.get(H_OFFSET, ""))
        if coords in self.seen:
            report.skipped_repeat += 1
            return None
        self.seen.add(coords)
        if self.only_classes and cls not in self.only_classes:
            report.skipped_filter += 1
            return None
        value = _fixed(msg.value(), self.fixes)
        if not isinstance(self.validator.check(value), Valid):
            report.still_invalid += 1
            return None
        replay_headers = [
            (H_REPLAYED_FROM, f"{self.dlq_topic}/{partition}/{offset}".encode()),
            (H_CLASS, cls.encode()),
        ]
        return msg.key(), value, replay_headers


def _fixed(value: bytes | None, fixes: Sequence[str]) -> bytes | None:
    """The letter with the named fixes applied, in order (unchanged if it is not a JSON object)."""
    import json

    if not fixes or value is None:
        return value
    try:
        doc = json.loads(value)
        if isinstance(doc, dict):
            for name in fixes:
                doc = FIXES[name](doc)
            return json.dumps(doc, separators=(",", ":")).encode()
    except ValueError:
        pass  # still not JSON: validation keeps it in the DLQ
    return value
