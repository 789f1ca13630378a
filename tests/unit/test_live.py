"""The live sales job's pure parts: message parsing with the consumers' contracts, durations,
the CLI entry and the metrics a committed or skipped batch moves."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from olist_pipeline.cli import build_parser
from olist_pipeline.errors import UsageError
from olist_pipeline.stream.live.events import Parser
from olist_pipeline.stream.live.job import parse_duration
from olist_pipeline.stream.producer import POISON_KINDS, poison_message
from tests.unit.stream_samples import sample_events

TOPICS = {"t.orders": "orders", "t.payments": "payments"}


def _messages() -> list[tuple[str, bytes | None]]:
    now = datetime.now(UTC)
    return [(f"t.{e.stream}", e.encode(now, 1 + n % 2)) for n, e in enumerate(sample_events())]


def test_valid_messages_of_both_streams_become_live_events() -> None:
    parsed = Parser(TOPICS).parse(_messages())
    events = sample_events()
    assert not parsed.invalid
    assert [e.event_id for e in parsed.events] == [e.event_id for e in events]
    for live, source in zip(parsed.events, events, strict=True):
        assert live.stream == source.stream and live.order_id == source.order_id
        assert live.occurred_at == source.occurred_at
        if source.stream == "orders":
            assert live.sequence == source.sequence
            assert live.order_status == source.payload["order_status"]
            assert live.payment_value is None
        else:
            assert live.sequence == source.payload["payment_sequential"]
            assert live.payment_value == Decimal(source.payload["payment_value"])


@pytest.mark.parametrize("kind", POISON_KINDS)
def test_invalid_messages_are_counted_by_class_and_skipped(kind: str) -> None:
    template = next(e for e in sample_events() if e.stream == "orders")
    poison = poison_message(kind, random.Random(1), template)
    parsed = Parser(TOPICS).parse([*_messages(), ("t.orders", poison)])
    assert dict(parsed.invalid) == {kind: 1}
    assert len(parsed.events) == len(sample_events())


def test_an_empty_message_is_not_json() -> None:
    assert dict(Parser(TOPICS).parse([("t.payments", None)]).invalid) == {"not_json": 1}


@pytest.mark.parametrize(
    ("text", "seconds"), [("90s", 90), ("10m", 600), ("6h", 21600), ("1d", 86400), ("30", 30)]
)
def test_durations(text: str, seconds: int) -> None:
    assert parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["soon", "-5m", "m"])
def test_a_bad_duration_names_the_fix(text: str) -> None:
    with pytest.raises(UsageError, match=r"90s, 10m, 6h or 1d|must not be negative"):
        parse_duration(text)


def test_stream_live_is_a_cli_command() -> None:
    args = build_parser().parse_args(
        ["stream", "live", "--until-caught-up", "--watermark-delay", "10m"]
    )
    assert args.until_caught_up is True and args.watermark_delay == "10m"
    assert args.func.__name__ == "_live"
