"""Classification of messages: valid events and each dead-letter error class."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime

import pytest

from olist_pipeline.stream.producer import POISON_KINDS, poison_message
from olist_pipeline.stream.validation import Rejection, Valid, Validator
from tests.unit.stream_samples import sample_events


def _order_doc() -> dict[str, object]:
    return next(e for e in sample_events() if e.stream == "orders").document(datetime.now(UTC))


def test_valid_events_of_both_versions_pass() -> None:
    v = Validator("orders")
    e = next(e for e in sample_events() if e.stream == "orders")
    for version in (1, 2):
        result = v.check(e.encode(datetime.now(UTC), version))
        assert isinstance(result, Valid)
        assert result.document["schema_version"] == version


@pytest.mark.parametrize("kind", POISON_KINDS)
def test_each_injected_poison_kind_is_rejected_with_its_class(kind: str) -> None:
    template = next(e for e in sample_events() if e.stream == "orders")
    result = Validator("orders").check(poison_message(kind, random.Random(1), template))
    assert isinstance(result, Rejection)
    assert result.error_class == kind
    assert result.message


def test_other_rejections() -> None:
    v = Validator("orders", max_event_bytes=10_000)
    doc = _order_doc()
    cases = {
        None: "not_json",
        b"[1, 2]": "schema_invalid",
        "\u00e9".encode("latin-1"): "not_json",
        json.dumps({**doc, "schema_version": 9}).encode(): "unsupported_schema_version",
        json.dumps({**doc, "schema_version": "1"}).encode(): "unsupported_schema_version",
        json.dumps({**doc, "order_id": "XYZ"}).encode(): "schema_invalid",
        json.dumps({**doc, "event_type": "payment.recorded"}).encode(): "unknown_event_type",
    }
    for value, expected in cases.items():
        result = v.check(value)
        assert isinstance(result, Rejection), value
        assert result.error_class == expected, (value, result)


def test_schema_messages_name_the_field() -> None:
    doc = _order_doc()
    doc["payload"] = {"customer_id": "nope", "order_status": "created"}
    result = Validator("orders").check(json.dumps(doc).encode())
    assert isinstance(result, Rejection)
    assert "payload/customer_id" in result.message
