"""Produce to and consume from the real Kafka broker (KRaft, auto-create off)."""

from __future__ import annotations

import uuid

import pytest
from confluent_kafka import Consumer, KafkaException, Producer
from confluent_kafka.admin import AdminClient, NewTopic

from olist_pipeline.config import Settings

pytestmark = pytest.mark.integration


def _create_topic(settings: Settings, name: str, partitions: int = 3) -> str:
    topic = settings.kafka.topic(name)
    admin = AdminClient({"bootstrap.servers": settings.kafka.bootstrap_servers})
    for future in admin.create_topics([NewTopic(topic, partitions, 1)]).values():
        future.result(timeout=30)
    return topic


def test_round_trip_through_the_broker(kafka_settings: Settings) -> None:
    topic = _create_topic(kafka_settings, "roundtrip")
    producer = Producer(
        {"bootstrap.servers": kafka_settings.kafka.bootstrap_servers, "enable.idempotence": True}
    )
    sent = {f"order-{i}": f"payload-{i}-{uuid.uuid4().hex}" for i in range(50)}
    for key, value in sent.items():
        producer.produce(topic, key=key, value=value)
    assert producer.flush(30) == 0

    consumer = Consumer(
        {
            "bootstrap.servers": kafka_settings.kafka.bootstrap_servers,
            "group.id": kafka_settings.kafka.group("roundtrip"),
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([topic])
    received: dict[str, str] = {}
    try:
        for _ in range(120):
            for msg in consumer.consume(num_messages=100, timeout=0.5):
                if msg.error():
                    raise KafkaException(msg.error())
                received[msg.key().decode()] = msg.value().decode()
            if len(received) == len(sent):
                break
    finally:
        consumer.close()
    assert received == sent


def test_topics_are_not_auto_created(kafka_settings: Settings) -> None:
    missing = kafka_settings.kafka.topic("never-declared")
    producer = Producer(
        {"bootstrap.servers": kafka_settings.kafka.bootstrap_servers, "message.timeout.ms": 4000}
    )
    errors: list[object] = []
    producer.produce(missing, value=b"x", on_delivery=lambda err, _msg: errors.append(err))
    producer.flush(15)
    admin = AdminClient({"bootstrap.servers": kafka_settings.kafka.bootstrap_servers})
    assert missing not in admin.list_topics(timeout=10).topics
    assert errors and errors[0] is not None
