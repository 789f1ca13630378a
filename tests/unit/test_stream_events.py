"""The event model: real Olist lifecycles, deterministic ids, event-time order."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from olist_pipeline.stream.events import (
    SourceRowError,
    event_id,
    olist_ts,
    order_events,
    payment_event,
)
from tests.unit.stream_samples import ORDER_ROWS, ORDERS, PAYMENT_ROWS, PAYMENTS, sample_events


def test_event_ids_are_deterministic_and_distinct_per_fact() -> None:
    a = event_id("e481f51cbdc54678b7cc49136f2d6af7", "order.created", 1)
    assert a == event_id("e481f51cbdc54678b7cc49136f2d6af7", "order.created", 1)
    assert a != event_id("e481f51cbdc54678b7cc49136f2d6af7", "order.approved", 2)
    ids = [e.event_id for e in sample_events()]
    assert len(ids) == len(set(ids))
    assert [e.event_id for e in sample_events()] == ids  # same data, same ids


def test_a_delivered_order_has_four_steps_at_its_real_timestamps() -> None:
    events = order_events(ORDER_ROWS[0], ORDERS)
    assert [e.event_type for e in events] == [
        "order.created",
        "order.approved",
        "order.shipped",
        "order.delivered",
    ]
    assert [e.sequence for e in events] == [1, 2, 3, 4]
    assert events[0].occurred_at == datetime(2017, 10, 2, 10, 56, 33, tzinfo=UTC)
    assert events[2].occurred_at == olist_ts("2017-10-04 19:55:00")
    assert events[3].payload["order_status"] == "delivered"
    assert all(e.payload["estimated_delivery_at"] == "2017-10-18T00:00:00Z" for e in events)


def test_null_steps_are_skipped_and_terminal_states_close_the_lifecycle() -> None:
    shipped = order_events(ORDER_ROWS[1], ORDERS)
    assert [e.event_type for e in shipped] == ["order.created", "order.approved", "order.shipped"]
    canceled = order_events(ORDER_ROWS[2], ORDERS)
    assert [e.event_type for e in canceled] == [
        "order.created",
        "order.approved",
        "order.canceled",
    ]
    assert canceled[-1].occurred_at == canceled[1].occurred_at  # at the last known time
    unavailable = order_events(ORDER_ROWS[3], ORDERS)
    assert [e.event_type for e in unavailable] == ["order.created", "order.unavailable"]


def test_payments_follow_their_order_purchase_time() -> None:
    when = olist_ts("2017-10-02 10:56:33")
    e = payment_event(PAYMENT_ROWS[2], PAYMENTS, when)
    assert e.sequence == 2 and e.occurred_at == when
    assert e.payload == {
        "payment_sequential": 2,
        "payment_type": "voucher",
        "payment_installments": 1,
        "payment_value": "18.59",
    }


def test_stream_is_in_event_time_order_with_created_before_its_payments() -> None:
    events = sample_events()
    keys = [e.sort_key for e in events]
    assert keys == sorted(keys)
    first_order = [e for e in events if e.order_id == "e481f51cbdc54678b7cc49136f2d6af7"]
    assert first_order[0].event_type == "order.created"
    assert first_order[1].stream == "payments"


def test_bad_rows_are_refused_with_a_reason() -> None:
    row = list(ORDER_ROWS[0])
    row[3] = "02/10/2017 10:56"
    with pytest.raises(SourceRowError, match="not an Olist timestamp"):
        order_events(tuple(row), ORDERS)
    pay = list(PAYMENT_ROWS[0])
    pay[4] = "lots"
    with pytest.raises(SourceRowError):
        payment_event(tuple(pay), PAYMENTS, olist_ts("2017-10-02 10:56:33"))


def test_encoded_document_carries_the_envelope() -> None:
    import json

    e = sample_events()[0]
    doc = json.loads(e.encode(datetime(2026, 1, 1, tzinfo=UTC)))
    assert set(doc) == {
        "event_id",
        "event_type",
        "schema_version",
        "occurred_at",
        "produced_at",
        "order_id",
        "sequence",
        "payload",
    }
    assert doc["produced_at"] == "2026-01-01T00:00:00.000000Z"
    assert doc["occurred_at"].endswith("Z")
