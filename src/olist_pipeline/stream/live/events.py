"""Kafka messages of the live job to events, with the consumers' contracts.

Runs on Spark's executors (``stream.live.frames.parse_partition`` through
``mapInArrow``), one :class:`Parser` per partition task.

The same :class:`~olist_pipeline.stream.validation.Validator` as the
consumers classifies each message; an invalid one is counted by error class
and skipped, never fatal (the consumers dead-letter it; the live view only
needs to leave it out).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

import orjson

from olist_pipeline.stream.events import ORDER_STREAM, PAYMENT_STREAM
from olist_pipeline.stream.validation import DEFAULT_MAX_EVENT_BYTES, Valid, Validator


@dataclass(frozen=True, slots=True)
class LiveEvent:
    event_id: str
    stream: str
    event_type: str
    order_id: str
    sequence: int
    occurred_at: datetime
    produced_at: datetime
    order_status: str | None
    customer_id: str | None
    payment_value: Decimal | None
    document: str


@dataclass
class Parsed:
    events: list[LiveEvent] = field(default_factory=list)
    invalid: Counter[str] = field(default_factory=Counter)


def _ts(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def to_live_event(stream: str, valid: Valid) -> LiveEvent:
    doc: dict[str, Any] = valid.document
    payload = doc["payload"]
    is_order = stream == ORDER_STREAM
    return LiveEvent(
        event_id=doc["event_id"],
        stream=stream,
        event_type=doc["event_type"],
        order_id=doc["order_id"],
        sequence=int(doc["sequence"] if is_order else payload["payment_sequential"]),
        occurred_at=_ts(doc["occurred_at"]),
        produced_at=_ts(doc["produced_at"]),
        order_status=payload.get("order_status") if is_order else None,
        customer_id=payload.get("customer_id") if is_order else None,
        payment_value=None if is_order else Decimal(payload["payment_value"]),
        document=valid.text if valid.text else orjson.dumps(doc).decode(),
    )


class Parser:
    """Validates messages of the order and payment topics (topic name -> stream)."""

    def __init__(
        self, topics: dict[str, str], max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES
    ) -> None:
        self.topics = topics
        self.validators = {s: Validator(s, max_event_bytes) for s in (ORDER_STREAM, PAYMENT_STREAM)}

    def classify(self, topic: str, value: bytes | None) -> LiveEvent | str:
        """The event, or the error class of an invalid message."""
        stream = self.topics[topic]
        result = self.validators[stream].check(None if value is None else bytes(value))
        if isinstance(result, Valid):
            return to_live_event(stream, result)
        return result.error_class

    def parse(self, messages: Iterable[tuple[str, bytes | None]]) -> Parsed:
        out = Parsed()
        for topic, value in messages:
            item = self.classify(topic, value)
            if isinstance(item, LiveEvent):
                out.events.append(item)
            else:
                out.invalid[item] += 1
        return out
