"""Kafka client configuration (stream/kafka.py) and the sink's poll, without a broker."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from confluent_kafka import Consumer, KafkaException, Producer
from confluent_kafka.admin import AdminClient

from olist_pipeline.config import load_settings
from olist_pipeline.stream import kafka
from olist_pipeline.stream.consumer import ConsumerOptions, StreamConsumer, consumer_config

SETTINGS = load_settings({"OLIST_KAFKA_BOOTSTRAP": "broker-a:9092,broker-b:9092"})
DEBUG = load_settings({"OLIST_KAFKA_BOOTSTRAP": "broker-a:9092", "OLIST_KAFKA_DEBUG": "cgrp"})


def test_librdkafka_debug_only_when_asked() -> None:
    assert "debug" not in kafka.sink_consumer_config(SETTINGS, "g")
    conf = kafka.sink_consumer_config(DEBUG, "g")
    assert (conf["debug"], conf["log_level"]) == ("cgrp", 7)


def test_every_client_takes_the_bootstrap_address_from_settings() -> None:
    configs = [
        kafka.producer_config(SETTINGS),
        kafka.sink_consumer_config(SETTINGS, "g"),
        kafka.reader_config(SETTINGS, "g"),
        kafka.admin_config(SETTINGS),
    ]
    for conf in configs:
        assert conf["bootstrap.servers"] == "broker-a:9092,broker-b:9092"
        assert conf["log_level"] == 3


def test_producer_is_idempotent_and_overrides_win() -> None:
    conf = kafka.producer_config(SETTINGS, **{"linger.ms": 0})
    assert conf["enable.idempotence"] is True
    assert conf["acks"] == "all"
    assert conf["linger.ms"] == 0
    assert kafka.producer_config(SETTINGS)["linger.ms"] == 5


def test_sink_consumer_leaves_offsets_to_the_database() -> None:
    conf = kafka.sink_consumer_config(SETTINGS, "olist.orders.sink")
    assert conf["group.id"] == "olist.orders.sink"
    assert conf["enable.auto.commit"] is False
    assert conf["enable.auto.offset.store"] is False
    assert conf["isolation.level"] == "read_committed"
    assert "group.instance.id" not in conf
    # The default 500 ms held a new member's first events for half a second.
    assert conf["fetch.error.backoff.ms"] <= 100


def test_sink_consumer_options_reach_the_config() -> None:
    opts = ConsumerOptions(stream="orders", session_timeout_ms=6000, instance_id="pod-1")
    conf = consumer_config(SETTINGS, "g", opts)
    assert conf["session.timeout.ms"] == 6000
    assert conf["heartbeat.interval.ms"] == 1000
    assert conf["group.instance.id"] == "pod-1"
    assert conf == kafka.sink_consumer_config(
        SETTINGS, "g", session_timeout_ms=6000, instance_id="pod-1"
    )


def test_reader_never_commits() -> None:
    conf = kafka.reader_config(SETTINGS, "probe")
    assert conf["enable.auto.commit"] is False
    assert conf["auto.offset.reset"] == "earliest"


@pytest.mark.parametrize(
    ("client", "conf"),
    [
        (Producer, kafka.producer_config(SETTINGS)),
        (Consumer, kafka.sink_consumer_config(SETTINGS, "g", instance_id="i")),
        (Consumer, kafka.reader_config(SETTINGS, "g")),
        (AdminClient, kafka.admin_config(SETTINGS)),
        (Consumer, kafka.sink_consumer_config(DEBUG, "g")),
    ],
)
def test_librdkafka_accepts_every_config(client: Any, conf: dict[str, Any]) -> None:
    """A misspelt or retired property fails here, not at the first start of a consumer."""
    try:
        made = client(conf)
    except KafkaException as exc:  # pragma: no cover - the failure this test is for
        pytest.fail(f"librdkafka refused the configuration: {exc}")
    if isinstance(made, Consumer):
        made.close()


class _FakeConsumer:
    def __init__(self, queued: int) -> None:
        self.queued = queued
        self.calls: list[tuple[int, float]] = []

    def consume(self, num: int, timeout: float) -> list[int]:
        self.calls.append((num, timeout))
        take = min(num, self.queued)
        self.queued -= take
        return list(range(take))


def _poll(queued: int, batch_size: int = 1000) -> tuple[list[Any], list[tuple[int, float]]]:
    fake = _FakeConsumer(queued)
    me = SimpleNamespace(consumer=fake, opts=ConsumerOptions("orders", batch_size=batch_size))
    return StreamConsumer._poll(me), fake.calls  # type: ignore[arg-type]


def test_poll_takes_what_is_fetched_without_waiting_for_a_full_batch() -> None:
    msgs, calls = _poll(queued=120)
    assert len(msgs) == 120
    # Waits only for the first message; the rest are taken with a zero timeout.
    assert calls == [(1, 0.05), (999, 0)]


def test_poll_caps_at_the_batch_size_and_returns_nothing_when_idle() -> None:
    msgs, _ = _poll(queued=5000)
    assert len(msgs) == 1000
    msgs, calls = _poll(queued=0)
    assert msgs == [] and calls == [(1, 0.05)]
