"""Broker restart and PostgreSQL restart mid-stream, on a PRIVATE stack.

Restarting the shared stack would break other tests running at the same
time, so this module starts its own PostgreSQL and Kafka (own state dir and
free ports, like test_stack.py) and restarts those.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import socket
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from olist_pipeline.config import Settings, load_settings
from olist_pipeline.stream.topics import stream_spec
from tests.integration.stream_support import (
    ConsumerProcess,
    Feeder,
    end_offsets,
    prepare,
    replay_events,
    stored_ids,
    stored_offsets,
    wait_until,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def private_stack(base_settings: Settings) -> Iterator[tuple[Settings, Any]]:
    from olist_pipeline.db.migrate import migrate
    from olist_pipeline.stack.stack import LocalStack

    parent = base_settings.local.state_dir / "tmp"
    parent.mkdir(parents=True, exist_ok=True)
    state = Path(tempfile.mkdtemp(prefix="stream-stack-", dir=parent))
    state.chmod(0o755)
    (state / "jars").symlink_to(base_settings.local.jars_dir)
    kafka_port = _free_port()
    env = {
        **os.environ,
        "OLIST_STATE_DIR": str(state),
        "OLIST_PG_PORT": str(_free_port()),
        "OLIST_KAFKA_PORT": str(kafka_port),
        "OLIST_KAFKA_BOOTSTRAP": f"127.0.0.1:{kafka_port}",
        "OLIST_KAFKA_CONTROLLER_PORT": str(_free_port()),
        "OLIST_KAFKA_HEAP": "384m",
        "OLIST_PG_DATABASE": "olist",
    }
    settings = load_settings(env)
    # The stream path needs no Spark: this private stack is PostgreSQL and Kafka only.
    stack = LocalStack(settings, ["postgres", "kafka"])
    os.environ["OLIST_KAFKA_HEAP"] = "384m"  # read by KafkaService.start from the environment
    try:
        stack.up()
        migrate(settings)
        yield settings, stack
    finally:
        os.environ.pop("OLIST_KAFKA_HEAP", None)
        stack.down()
        shutil.rmtree(state, ignore_errors=True)


def _run_with_outage(
    settings: Settings, tmp_path: Path, stack: Any, service: str, namespace: str
) -> ConsumerProcess:
    from olist_pipeline.db.migrate import migrate

    # Own database per test: both tests replay the same events (same ids).
    settings = settings.with_kafka_namespace(namespace).with_database(
        "olist_" + namespace.strip(".")
    )
    migrate(settings)
    prepare(settings)
    events = [e for e in replay_events(700) if e.stream == "orders"]
    # Fed until the service is back and the consumer stores again: the outage
    # always meets a consumer with messages to write, however fast it is.
    topic = stream_spec("orders").topic_name(settings)
    feeder = Feeder(settings, events, rate=600).start()
    # librdkafka's consumer-group lines in the consumer's log: once, in a full-suite run, the
    # consumer was revoked after the broker restart and never assigned again; if it happens
    # again, the failure shows why.
    debug = dataclasses.replace(
        settings, kafka=dataclasses.replace(settings.kafka, client_debug="cgrp")
    )
    consumer = ConsumerProcess(
        debug, tmp_path, f"consumer-{service}", "--stream", "orders", "--batch-size", "100"
    )
    try:
        wait_until(lambda: len(stored_ids(settings, "orders")) > 200, 60, "first events stored")
        svc = stack.service(service)
        svc.stop()
        time.sleep(2)  # the outage's length: the consumer keeps polling or writing meanwhile
        assert feeder.running, "the feeder stopped before the outage was over"
        svc.start()
        after = sum(stored_offsets(settings, "orders").values())
        try:
            wait_until(
                lambda: sum(stored_offsets(settings, "orders").values()) > after + 200,
                180,
                "the consumer storing again after the restart",
            )
        except AssertionError as exc:
            lines = consumer.log_path.read_text(errors="replace").splitlines()
            tail = "\n".join(line[:300] for line in lines[-60:])
            raise AssertionError(f"{exc}\nthe consumer's last log lines:\n{tail}") from None
        expected = feeder.stop()
        # The feeder's later rounds resend events: done is the end of the topic.
        wait_until(
            lambda: stored_offsets(settings, "orders") == end_offsets(settings, topic),
            180,
            "every message stored after the restart",
        )
        assert consumer.proc.poll() is None, "the consumer died instead of recovering"
        assert consumer.terminate() == 0
    finally:
        feeder.halt()
        consumer.ensure_stopped()
    ids = stored_ids(settings, "orders")
    assert len(ids) == len(set(ids)) and set(ids) == expected
    assert stored_offsets(settings, "orders") == end_offsets(settings, topic)
    return consumer


def test_broker_restart_mid_stream(private_stack: tuple[Settings, Any], tmp_path: Path) -> None:
    settings, stack = private_stack
    _run_with_outage(settings, tmp_path, stack, "kafka", "brk.")


def test_postgres_restart_mid_stream(private_stack: tuple[Settings, Any], tmp_path: Path) -> None:
    settings, stack = private_stack
    consumer = _run_with_outage(settings, tmp_path, stack, "postgres", "pg.")
    retries = [
        r for r in consumer.events("transient_error_retrying") if r.get("reason") == "database"
    ]
    assert retries, "the database outage never reached the consumer"
