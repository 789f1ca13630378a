"""Versioned JSON Schemas of the stream events (``<name>.v<N>.json``).

The files are the contract; this module only finds and compiles them. Each
stream (``orders``, ``payments``) has one schema per version; a consumer
validates an event against the version the event declares, so producers can
move to a newer version while older events keep validating. Compatibility
rule (enforced by a unit test): a newer version only adds optional fields,
so every document valid under version N is valid under N+1.

Validation on the hot path uses ``fastjsonschema`` (compiled to Python,
~20x faster than the reference validator, which the sink needs to reach
tens of thousands of events per second); ``jsonschema`` remains the
reference implementation for tests and for readable error messages.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from functools import cache
from importlib import resources
from typing import Any

SCHEMA_FILES: dict[str, str] = {"orders": "order_event", "payments": "payment_event"}
_FILE = re.compile(r"^(?P<name>[a-z_]+)\.v(?P<version>\d+)\.json$")


def versions(stream: str) -> tuple[int, ...]:
    """Schema versions shipped for ``stream``, oldest first."""
    base = SCHEMA_FILES[stream]
    found: list[int] = []
    for entry in resources.files(__name__).iterdir():
        m = _FILE.match(entry.name)
        if m and m.group("name") == base:
            found.append(int(m.group("version")))
    return tuple(sorted(found))


def latest_version(stream: str) -> int:
    return versions(stream)[-1]


@cache
def schema(stream: str, version: int) -> dict[str, Any]:
    """The JSON Schema of ``stream`` at ``version`` (KeyError if unknown)."""
    if stream not in SCHEMA_FILES:
        raise KeyError(f"unknown stream {stream!r}; known: {', '.join(SCHEMA_FILES)}")
    name = f"{SCHEMA_FILES[stream]}.v{version}.json"
    ref = resources.files(__name__).joinpath(name)
    if not ref.is_file():
        raise KeyError(f"no schema {name} for stream {stream!r}")
    loaded: dict[str, Any] = json.loads(ref.read_text("utf-8"))
    return loaded


def event_types(stream: str) -> frozenset[str]:
    """Every event type any version of ``stream``'s schema accepts."""
    out: set[str] = set()
    for v in versions(stream):
        out.update(schema(stream, v)["properties"]["event_type"]["enum"])
    return frozenset(out)


@cache
def fast_validator(stream: str, version: int) -> Callable[[Any], Any]:
    """A compiled validator that raises ``fastjsonschema.JsonSchemaException``."""
    import fastjsonschema

    compiled: Callable[[Any], Any] = fastjsonschema.compile(schema(stream, version))
    return compiled


def reference_errors(stream: str, version: int, document: Any) -> list[str]:
    """Every violation, as readable messages, from the reference validator."""
    import jsonschema

    validator = jsonschema.Draft7Validator(schema(stream, version))
    return [
        f"{'/'.join(str(p) for p in e.absolute_path) or '<root>'}: {e.message}"
        for e in sorted(validator.iter_errors(document), key=lambda e: list(e.absolute_path))
    ]
