"""Classify one Kafka message: a valid event of its stream, or why not.

Error classes (the DLQ's ``x-error-class`` header and the
``olist_consumer_dlq_total{error_class}`` label): ``oversized``, ``not_json``,
``unknown_event_type``, ``unsupported_schema_version``, ``schema_invalid``,
and ``sink_rejected`` (valid JSON the database refused, set by the consumer).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from olist_pipeline.contracts import events as contracts

DEFAULT_MAX_EVENT_BYTES = 64 * 1024

OVERSIZED = "oversized"
NOT_JSON = "not_json"
UNKNOWN_EVENT_TYPE = "unknown_event_type"
UNSUPPORTED_VERSION = "unsupported_schema_version"
SCHEMA_INVALID = "schema_invalid"
SINK_REJECTED = "sink_rejected"


@dataclass(frozen=True, slots=True)
class Rejection:
    error_class: str
    message: str


@dataclass(frozen=True, slots=True)
class Valid:
    text: str
    document: dict[str, Any]


class Validator:
    """Validates messages of one stream against the schema version they declare."""

    def __init__(self, stream: str, max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES) -> None:
        self.stream = stream
        self.max_event_bytes = max_event_bytes
        self.event_types = contracts.event_types(stream)
        self.versions = {v: contracts.fast_validator(stream, v) for v in contracts.versions(stream)}

    def check(self, value: bytes | None) -> Valid | Rejection:  # noqa: PLR0911
        import fastjsonschema

        if value is None:
            return Rejection(NOT_JSON, "empty message (no value)")
        if len(value) > self.max_event_bytes:
            return Rejection(
                OVERSIZED, f"{len(value)} bytes exceeds the limit of {self.max_event_bytes} bytes"
            )
        try:
            # orjson: ~4x faster than json, and strict (UTF-8 only, no NaN).
            doc = orjson.loads(value)
            text = value.decode("utf-8")
        except (UnicodeDecodeError, ValueError) as exc:
            return Rejection(NOT_JSON, f"{type(exc).__name__}: {exc}"[:300])
        if not isinstance(doc, dict):
            return Rejection(
                SCHEMA_INVALID, f"an event must be a JSON object, not {type(doc).__name__}"
            )
        event_type = doc.get("event_type")
        if event_type not in self.event_types:
            return Rejection(
                UNKNOWN_EVENT_TYPE,
                f"event_type {event_type!r} is not an event of the {self.stream} stream",
            )
        version = doc.get("schema_version")
        check = self.versions.get(version) if type(version) is int else None
        if check is None:
            return Rejection(
                UNSUPPORTED_VERSION,
                f"schema_version {version!r} is not one of {sorted(self.versions)}",
            )
        try:
            check(doc)
        except fastjsonschema.JsonSchemaException as exc:
            errors = contracts.reference_errors(self.stream, int(version or 0), doc)
            detail = "; ".join(errors[:3]) if errors else str(exc)
            return Rejection(SCHEMA_INVALID, detail[:500])
        return Valid(text, doc)
