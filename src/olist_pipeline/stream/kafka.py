"""Kafka client configuration, built in one place from Settings.

Every producer, consumer and admin client of the project takes its
configuration from here, so a broker setting (the bootstrap address, the
log level, later TLS or SASL) is added once and reaches all of them.
"""

from __future__ import annotations

from typing import Any

from olist_pipeline.config import Settings

# librdkafka logs at error level and above only: its info lines (connections,
# rebalances) would drown the structured logs of the consumers.
_LOG_LEVEL = 3


def client_config(settings: Settings) -> dict[str, Any]:
    """What every client of the project shares: the broker address and the log level
    (``OLIST_KAFKA_DEBUG`` turns on librdkafka's debug lines for the contexts it names)."""
    conf: dict[str, Any] = {
        "bootstrap.servers": settings.kafka.bootstrap_servers,
        "log_level": _LOG_LEVEL,
    }
    if settings.kafka.client_debug:
        conf["debug"] = settings.kafka.client_debug
        conf["log_level"] = 7
    return conf


def producer_config(settings: Settings, **overrides: Any) -> dict[str, Any]:
    """An idempotent producer (its own retries never add duplicates); ``overrides`` win."""
    conf = client_config(settings)
    conf.update(
        {
            "enable.idempotence": True,
            "acks": "all",
            "compression.type": "lz4",
            # Up to 5 ms for a fuller batch: at 2,000 events/s that is ~10 events
            # per request instead of one, for a few ms of end-to-end latency.
            "linger.ms": 5,
            "batch.num.messages": 10_000,
            "queue.buffering.max.messages": 200_000,
        }
    )
    conf.update(overrides)
    return conf


def sink_consumer_config(
    settings: Settings,
    group: str,
    *,
    session_timeout_ms: int = 10_000,
    instance_id: str | None = None,
) -> dict[str, Any]:
    """The exactly-once sink's consumer: offsets are stored in PostgreSQL, not by Kafka."""
    conf = client_config(settings)
    conf.update(
        {
            "group.id": group,
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "auto.offset.reset": "earliest",
            "isolation.level": "read_committed",
            # Eager assignment: manual commits and cooperative-sticky do not mix well
            # (librdkafka#4059); a full revoke/assign cycle is simple and safe.
            "partition.assignment.strategy": "range",
            "session.timeout.ms": session_timeout_ms,
            "heartbeat.interval.ms": max(500, session_timeout_ms // 6),
            "max.poll.interval.ms": 300_000,
            # A quiet partition answers within 25 ms; with data there the broker
            # answers at once (fetch.min.bytes stays 1), so this bounds idle
            # fetch traffic, not latency.
            "fetch.wait.max.ms": 25,
            # The first fetch of a partition just assigned (or just created) can
            # fail while the broker settles its leadership; the default backoff
            # of 500 ms then held the first half second of events of every new
            # member (`make bench BENCH=stream`: 500 ms in the first second,
            # 10-20 ms after). 50 ms keeps an erroring broker from being hammered.
            "fetch.error.backoff.ms": 50,
        }
    )
    if instance_id:
        conf["group.instance.id"] = instance_id
    return conf


def reader_config(settings: Settings, group: str) -> dict[str, Any]:
    """A consumer that reads or probes a topic and never commits (DLQ replay, watermarks)."""
    conf = client_config(settings)
    conf.update({"group.id": group, "enable.auto.commit": False, "auto.offset.reset": "earliest"})
    return conf


def admin_config(settings: Settings) -> dict[str, Any]:
    """An admin client (topics, consumer groups)."""
    return client_config(settings)
