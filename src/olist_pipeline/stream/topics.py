"""Topics as code: read ``topics.yaml`` and create the topics idempotently."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

import yaml

from olist_pipeline.config import Settings
from olist_pipeline.errors import OlistError
from olist_pipeline.logs import get_logger

log = get_logger(__name__)

STREAMS: tuple[str, ...] = ("orders", "payments")


class TopicError(OlistError):
    """A topic could not be created or does not match its declaration."""


@dataclass(frozen=True)
class TopicSpec:
    name: str  # bare name; prefix with settings.kafka.topic()
    partitions: int
    replicas: int
    config: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class StreamSpec:
    stream: str
    topic: TopicSpec
    dlq: TopicSpec

    def topic_name(self, settings: Settings) -> str:
        return settings.kafka.topic(self.topic.name)

    def dlq_name(self, settings: Settings) -> str:
        return settings.kafka.topic(self.dlq.name)

    def group(self, settings: Settings, name: str | None = None) -> str:
        """The consumer group of the sink (namespaced like the topics)."""
        return settings.kafka.group(name or f"olist.{self.stream}.sink")


def _topic(raw: dict[str, Any]) -> TopicSpec:
    return TopicSpec(
        name=str(raw["name"]),
        partitions=int(raw["partitions"]),
        replicas=int(raw.get("replicas", 1)),
        config={str(k): str(v) for k, v in (raw.get("config") or {}).items()},
    )


@cache
def declaration() -> dict[str, StreamSpec]:
    text = resources.files("olist_pipeline.stream").joinpath("topics.yaml").read_text("utf-8")
    raw = yaml.safe_load(text)["streams"]
    return {
        name: StreamSpec(stream=name, topic=_topic(s["topic"]), dlq=_topic(s["dlq"]))
        for name, s in raw.items()
    }


def stream_spec(stream: str) -> StreamSpec:
    try:
        return declaration()[stream]
    except KeyError:
        raise TopicError(
            f"unknown stream {stream!r}; declared streams: {', '.join(declaration())}"
        ) from None


def all_topics() -> list[TopicSpec]:
    out: list[TopicSpec] = []
    for s in declaration().values():
        out += [s.topic, s.dlq]
    return out


def admin_client(settings: Settings) -> Any:
    from confluent_kafka.admin import AdminClient

    from olist_pipeline.stream.kafka import admin_config

    return AdminClient(admin_config(settings))


def create_topics(settings: Settings, timeout: float = 30.0) -> dict[str, str]:
    """Create every declared topic that is missing. Returns ``{topic: created|exists}``.

    The replication factor and ``min.insync.replicas`` are clamped to the
    number of live brokers, so the same declaration works on the one-node
    local broker and on a real cluster.
    """
    from confluent_kafka import KafkaError, KafkaException
    from confluent_kafka.admin import NewTopic  # type: ignore[attr-defined]

    admin = admin_client(settings)
    try:
        metadata = admin.list_topics(timeout=timeout)
    except KafkaException as exc:
        raise TopicError(
            f"cannot reach Kafka at {settings.kafka.bootstrap_servers} ({exc}); start it with "
            "`olist stack up` or set OLIST_KAFKA_BOOTSTRAP"
        ) from None
    brokers = max(1, len(metadata.brokers))
    result: dict[str, str] = {}
    wanted: list[Any] = []
    for spec in all_topics():
        name = settings.kafka.topic(spec.name)
        if name in metadata.topics:
            result[name] = "exists"
            continue
        config = dict(spec.config)
        replicas = min(spec.replicas, brokers)
        if "min.insync.replicas" in config:
            config["min.insync.replicas"] = str(min(int(config["min.insync.replicas"]), replicas))
        wanted.append(NewTopic(name, spec.partitions, replicas, config=config))
    if wanted:
        for name, future in admin.create_topics(wanted, request_timeout=timeout).items():
            try:
                future.result(timeout=timeout)
                result[name] = "created"
            except KafkaException as exc:
                if exc.args[0].code() == KafkaError.TOPIC_ALREADY_EXISTS:
                    result[name] = "exists"  # a concurrent creator won the race
                else:
                    raise TopicError(f"creating topic {name} failed: {exc}") from None
    for name, state in sorted(result.items()):
        log.info("topic_ready", topic=name, state=state)
    return result


def describe(settings: Settings, timeout: float = 15.0) -> dict[str, int]:
    """Partitions per existing declared topic (missing topics are absent)."""
    metadata = admin_client(settings).list_topics(timeout=timeout)
    out: dict[str, int] = {}
    for spec in all_topics():
        name = settings.kafka.topic(spec.name)
        if name in metadata.topics:
            out[name] = len(metadata.topics[name].partitions)
    return out
