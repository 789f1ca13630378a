"""Event schemas: well-formed, backward compatible across versions, matching the model."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

import jsonschema
import pytest

from olist_pipeline.contracts import events as contracts
from olist_pipeline.stream.events import ORDER_STEPS, PAYMENT_EVENT, TERMINAL_EVENTS
from tests.unit.stream_samples import sample_events

STREAMS = ("orders", "payments")


@pytest.mark.parametrize("stream", STREAMS)
def test_every_schema_is_a_valid_draft7_schema(stream: str) -> None:
    assert contracts.versions(stream)[0] == 1
    for v in contracts.versions(stream):
        jsonschema.Draft7Validator.check_schema(contracts.schema(stream, v))


@pytest.mark.parametrize("stream", STREAMS)
def test_newer_versions_only_add_optional_fields(stream: str) -> None:
    for old, new in itertools.pairwise(contracts.versions(stream)):
        a, b = contracts.schema(stream, old), contracts.schema(stream, new)
        assert b["required"] == a["required"]  # nothing newly required
        for name, definition in a["properties"].items():
            assert name in b["properties"], f"v{new} dropped {name}"
            if name in ("schema_version", "payload"):
                continue
            assert b["properties"][name] == definition, f"v{new} changed {name}"
        pa, pb = a["properties"]["payload"], b["properties"]["payload"]
        assert pb["required"] == pa["required"]
        for name, definition in pa["properties"].items():
            assert pb["properties"][name] == definition


@pytest.mark.parametrize("stream", STREAMS)
def test_every_v1_document_validates_against_every_later_version(stream: str) -> None:
    docs = [e.document(datetime.now(UTC), 1) for e in sample_events() if e.stream == stream]
    assert docs
    for v in contracts.versions(stream):
        validator = jsonschema.Draft7Validator(contracts.schema(stream, v))
        for doc in docs:
            assert not list(validator.iter_errors(doc)), (v, doc)


def test_v2_documents_validate_against_v2_only() -> None:
    doc = next(e for e in sample_events() if e.stream == "orders").document(datetime.now(UTC), 2)
    assert "source" in doc
    assert contracts.reference_errors("orders", 2, doc) == []
    assert contracts.reference_errors("orders", 1, doc)  # v1 knows neither version 2 nor source


def test_schemas_list_every_event_type_the_model_emits() -> None:
    order_types = {t for _, t, _, _ in ORDER_STEPS} | {t for t, _ in TERMINAL_EVENTS.values()}
    assert contracts.event_types("orders") == order_types
    assert contracts.event_types("payments") == {PAYMENT_EVENT}


def test_fast_and_reference_validators_agree() -> None:
    import fastjsonschema

    good = next(e for e in sample_events() if e.stream == "payments").document(datetime.now(UTC))
    bad = [
        {**good, "payload": {**good["payload"], "payment_value": 12.5}},
        {**good, "occurred_at": "2017-13-01T00:00:00Z"},
        {**good, "extra": 1},
        {k: v for k, v in good.items() if k != "order_id"},
    ]
    check = contracts.fast_validator("payments", 1)
    check(good)
    assert contracts.reference_errors("payments", 1, good) == []
    for doc in bad:
        with pytest.raises(fastjsonschema.JsonSchemaException):
            check(doc)
        assert contracts.reference_errors("payments", 1, doc)
