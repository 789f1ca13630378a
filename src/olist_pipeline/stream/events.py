"""The event model: Olist orders and payments as a stream of facts.

An order's lifecycle follows its real timestamps: ``order.created`` at the
purchase time, ``order.approved``, ``order.shipped`` (handed to the carrier),
``order.delivered`` (to the customer), and ``order.canceled`` /
``order.unavailable`` for orders that ended that way (at the order's last
known timestamp, since Olist records no cancel time). Null timestamps mean
the step never happened, so no event. Each payment row is one
``payment.recorded`` event at the order's purchase time.

``event_id`` is a UUIDv5 of (order_id, event_type, sequence): replaying the
same data yields the same ids, which is what makes the sink idempotent.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import orjson

# Fixed forever: changing it would change every event id.
EVENT_NAMESPACE = uuid.UUID("6f1c2b0e-4a53-5d1e-9b7a-0c11570e5e00")

ORDER_STREAM = "orders"
PAYMENT_STREAM = "payments"

# Lifecycle step -> (event type, sequence, status the order moves to).
ORDER_STEPS: tuple[tuple[str, str, int, str], ...] = (
    ("order_purchase_timestamp", "order.created", 1, "created"),
    ("order_approved_at", "order.approved", 2, "approved"),
    ("order_delivered_carrier_date", "order.shipped", 3, "shipped"),
    ("order_delivered_customer_date", "order.delivered", 4, "delivered"),
)
TERMINAL_EVENTS: dict[str, tuple[str, int]] = {
    "canceled": ("order.canceled", 5),
    "unavailable": ("order.unavailable", 5),
}
PAYMENT_EVENT = "payment.recorded"
_STREAM_RANK = {ORDER_STREAM: 0, PAYMENT_STREAM: 1}


class SourceRowError(ValueError):
    """A source row cannot become an event (bad timestamp or number)."""


def event_id(order_id: str, event_type: str, sequence: int) -> str:
    return str(uuid.uuid5(EVENT_NAMESPACE, f"{order_id}|{event_type}|{sequence}"))


def olist_ts(value: str) -> datetime:
    """An Olist ``YYYY-MM-DD HH:MM:SS`` timestamp as an aware UTC datetime."""
    text = value.strip()
    try:
        if len(text) != 19 or text[10] != " ":
            raise ValueError(text)
        return datetime.fromisoformat(text).replace(tzinfo=UTC)
    except ValueError:
        raise SourceRowError(f"not an Olist timestamp: {value!r}") from None


def iso(ts: datetime) -> str:
    """UTC, second precision, ``Z`` suffix (the schema's occurred_at format)."""
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def iso_micro(ts: datetime) -> str:
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True, slots=True)
class Event:
    stream: str
    event_type: str
    order_id: str
    sequence: int
    occurred_at: datetime
    payload: dict[str, Any]
    source_file: str = ""
    source_row: int = 0
    event_id: str = field(default="")

    def __post_init__(self) -> None:
        if not self.event_id:
            object.__setattr__(
                self, "event_id", event_id(self.order_id, self.event_type, self.sequence)
            )

    @property
    def sort_key(self) -> tuple[datetime, str, int, int]:
        return (self.occurred_at, self.order_id, _STREAM_RANK[self.stream], self.sequence)

    def document(self, produced_at: datetime, schema_version: int = 1) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "event_id": self.event_id,
            "event_type": self.event_type,
            "schema_version": schema_version,
            "occurred_at": iso(self.occurred_at),
            "produced_at": iso_micro(produced_at),
            "order_id": self.order_id,
            "sequence": self.sequence,
            "payload": self.payload,
        }
        if schema_version >= 2 and self.source_file:
            doc["source"] = {"file": self.source_file, "row": max(1, self.source_row)}
        return doc

    def encode(self, produced_at: datetime, schema_version: int = 1) -> bytes:
        return orjson.dumps(self.document(produced_at, schema_version))


def _value(row: Sequence[str | None], header: Sequence[str], name: str) -> str | None:
    v = row[header.index(name)]
    return v if v not in (None, "") else None


def order_events(
    row: Sequence[str | None], header: Sequence[str], source_file: str = "", source_row: int = 0
) -> list[Event]:
    """The lifecycle events of one orders-file row, skipping steps that never happened."""
    order_id = _value(row, header, "order_id")
    customer_id = _value(row, header, "customer_id")
    status = _value(row, header, "order_status")
    purchase = _value(row, header, "order_purchase_timestamp")
    if not order_id or not customer_id or not status or not purchase:
        raise SourceRowError("order row without id, customer, status or purchase time")
    estimate_raw = _value(row, header, "order_estimated_delivery_date")
    estimate = iso(olist_ts(estimate_raw)) if estimate_raw else None
    events: list[Event] = []
    for column, event_type, sequence, new_status in ORDER_STEPS:
        raw = _value(row, header, column)
        if raw is None:
            continue
        payload: dict[str, Any] = {"customer_id": customer_id, "order_status": new_status}
        if estimate is not None:
            payload["estimated_delivery_at"] = estimate
        events.append(
            Event(
                ORDER_STREAM,
                event_type,
                order_id,
                sequence,
                olist_ts(raw),
                payload,
                source_file,
                source_row,
            )
        )
    terminal = TERMINAL_EVENTS.get(status)
    if terminal is not None:
        event_type, sequence = terminal
        last = max(e.occurred_at for e in events)
        events.append(
            Event(
                ORDER_STREAM,
                event_type,
                order_id,
                sequence,
                last,
                {
                    "customer_id": customer_id,
                    "order_status": status,
                    "estimated_delivery_at": estimate,
                },
                source_file,
                source_row,
            )
        )
    return events


def payment_event(
    row: Sequence[str | None],
    header: Sequence[str],
    purchased_at: datetime,
    source_file: str = "",
    source_row: int = 0,
) -> Event:
    order_id = _value(row, header, "order_id")
    try:
        sequential = int(_value(row, header, "payment_sequential") or "")
        installments = int(_value(row, header, "payment_installments") or "")
        value = Decimal(_value(row, header, "payment_value") or "").quantize(Decimal("0.01"))
    except (ValueError, InvalidOperation):
        raise SourceRowError(
            "payment row with a non-numeric sequential/installments/value"
        ) from None
    if not order_id or sequential < 1:
        raise SourceRowError("payment row without order id or with sequential < 1")
    payload = {
        "payment_sequential": sequential,
        "payment_type": _value(row, header, "payment_type") or "not_defined",
        "payment_installments": installments,
        "payment_value": f"{value:.2f}",
    }
    return Event(
        PAYMENT_STREAM,
        PAYMENT_EVENT,
        order_id,
        sequential,
        purchased_at,
        payload,
        source_file,
        source_row,
    )


def in_event_time_order(events: Iterable[Event]) -> list[Event]:
    return sorted(events, key=lambda e: e.sort_key)
