"""Producer -> broker -> consumer subprocess -> PostgreSQL, with duplicates, disorder and poison."""

from __future__ import annotations

import json
import socket
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest
from confluent_kafka import Producer

from olist_pipeline.config import Role, Settings
from olist_pipeline.stream import dlq
from olist_pipeline.stream.progress import StreamProgress, stored_events
from olist_pipeline.stream.topics import stream_spec
from tests.integration.stream_support import (
    ConsumerProcess,
    dlq_letters,
    end_offsets,
    prepare,
    produce_events,
    replay_events,
    stored_ids,
    stored_offsets,
    wait_until,
)

pytestmark = pytest.mark.integration


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def test_exactly_once_with_duplicates_disorder_and_poison(
    settings: Settings, tmp_path: Path
) -> None:
    prepare(settings)
    events = replay_events(300)
    report = produce_events(settings, events, duplicates=0.1, out_of_order=0.1, poison=8, seed=7)
    counts = report.streams
    assert counts["orders"].duplicates > 0 and counts["orders"].out_of_order > 0
    assert counts["orders"].poison == 8

    # One more dead letter that a fix can repair: a valid event plus a field
    # that v1 does not declare (additionalProperties: false).
    fixable = next(e for e in events if e.stream == "orders").document(datetime.now(UTC))
    fixable["event_id"] = "00000000-0000-4000-8000-000000000001"
    fixable["debug"] = True
    p = Producer({"bootstrap.servers": settings.kafka.bootstrap_servers})
    p.produce(
        stream_spec("orders").topic_name(settings),
        key=fixable["order_id"].encode(),
        value=json.dumps(fixable).encode(),
    )
    assert p.flush(30) == 0

    port = _free_port()
    consumer = ConsumerProcess(
        settings,
        tmp_path,
        "orders",
        "--stream",
        "orders",
        "--metrics-port",
        str(port),
        "--batch-size",
        "500",
    )
    try:
        expected = report.valid_ids["orders"]
        wait_until(
            lambda: len(stored_ids(settings, "orders")) >= len(expected), 60, "orders stored"
        )
        wait_until(lambda: _get(port, "/readyz")[0] == 200, 15, "readiness")
        assert _get(port, "/healthz")[0] == 200
        status, metrics = _get(port, "/metrics")
        assert status == 200
        assert (
            f'olist_consumer_messages_total{{outcome="stored",stream="orders"}} {len(expected)}.0'
            in metrics
        )
        assert 'olist_consumer_dlq_total{error_class="oversized",stream="orders"} 2.0' in metrics
        assert "olist_consumer_lag_messages{" in metrics
        assert "olist_consumer_batch_seconds_bucket" in metrics
        assert "olist_consumer_last_commit_timestamp_seconds" in metrics
        assert consumer.terminate() == 0  # SIGTERM: clean exit
    finally:
        consumer.ensure_stopped()
    assert any(r.get("event") == "consumer_finished" for r in consumer.records())

    ids = stored_ids(settings, "orders")
    assert sorted(ids) == sorted(expected)  # exactly once: no loss, no duplicate
    topic = stream_spec("orders").topic_name(settings)
    assert stored_offsets(settings, "orders") == end_offsets(settings, topic)

    letters = dlq_letters(settings, "orders")
    coords = {
        (h["x-original-topic"], h["x-original-partition"], h["x-original-offset"])
        for h, _ in letters
    }
    assert len(coords) == 9  # 8 poison + the fixable one
    # What the main job waits on and reports: every partition caught up (the sink's
    # stored offsets at the watermarks), the letters counted, the events stored.
    with StreamProgress(settings) as progress:
        caught_up = {p: pos for (t, p), pos in progress.positions().items() if t == topic}
        assert caught_up == {p: (h, h) for p, h in end_offsets(settings, topic).items()}
        assert progress.dead_lettered()["orders"] == len(letters)
    assert stored_events(settings)["orders"] >= len(expected)  # the database may be shared
    classes = sorted(h["x-error-class"] for h, _ in letters)
    assert classes.count("not_json") == 2 and classes.count("oversized") == 2
    assert classes.count("unknown_event_type") == 2 and classes.count("schema_invalid") == 3
    for h, value in letters:
        assert h["x-original-topic"] == topic
        assert h["x-error-message"] and h["x-failed-at"].endswith("Z")
        assert h["x-consumer-group"] == stream_spec("orders").group(settings)
        assert value is not None
    # produced messages = stored + duplicates absorbed + dead-lettered
    total = sum(end_offsets(settings, topic).values())
    assert total == len(expected) + counts["orders"].duplicates + len(coords)

    # Replay: without a fix every letter is still invalid; with one, only the
    # fixable event goes back and lands exactly once.
    none = dlq.replay(settings, "orders", group=settings.kafka.group("replay-a"))
    assert none.republished == 0 and none.still_invalid == 9
    fixed = dlq.replay(
        settings,
        "orders",
        fixes=["drop-unknown-fields"],
        only_classes=["schema_invalid"],
        group=settings.kafka.group("replay-b"),
    )
    assert fixed.republished == 1 and fixed.still_invalid == 2 and fixed.skipped_filter == 6
    again = dlq.replay(
        settings,
        "orders",
        fixes=["drop-unknown-fields"],
        only_classes=["schema_invalid"],
        group=settings.kafka.group("replay-b"),
    )
    assert again.read == 0 and again.republished == 0  # its group remembers

    final = ConsumerProcess(
        settings, tmp_path, "orders-2", "--stream", "orders", "--until-caught-up"
    )
    try:
        assert final.wait(60) == 0
    finally:
        final.ensure_stopped()
    ids = stored_ids(settings, "orders")
    assert len(ids) == len(set(ids)) == len(expected) + 1
    assert fixable["event_id"] in ids


def test_payments_land_with_typed_money(settings: Settings, tmp_path: Path) -> None:
    prepare(settings)
    events = replay_events(200)
    report = produce_events(settings, events, streams=("payments",), schema_version=2)
    consumer = ConsumerProcess(
        settings, tmp_path, "payments", "--stream", "payments", "--until-caught-up"
    )
    try:
        assert consumer.wait(60) == 0
    finally:
        consumer.ensure_stopped()
    expected = sum(float(e.payload["payment_value"]) for e in events if e.stream == "payments")
    with psycopg.connect(settings.postgres.dsn(Role.STREAM)) as conn:
        n, total, v2 = conn.execute(
            "SELECT count(*), sum(payment_value), count(*) FILTER (WHERE schema_version = 2) "
            "FROM staging.payment_events"
        ).fetchone()
    assert n == report.streams["payments"].valid == v2
    assert float(total) == pytest.approx(expected, abs=0.005)


def test_stream_role_has_least_privilege(pg_settings: Settings) -> None:
    allowed = [
        "SELECT count(*) FROM staging.order_events",
        "SELECT count(*) FROM staging.payment_events",
        "SELECT count(*) FROM audit.stream_offsets",
        "INSERT INTO audit.stream_offsets (consumer_group, topic, partition, next_offset) "
        "VALUES ('g', 't', 0, 1)",
        "UPDATE audit.stream_offsets SET next_offset = 2",
    ]
    denied = [
        "DELETE FROM staging.order_events",
        "UPDATE staging.payment_events SET payment_value = 0",
        "TRUNCATE staging.order_events",
        "DELETE FROM audit.stream_offsets",
        "SELECT count(*) FROM raw.orders",
        "CREATE TABLE staging.sneaky (x int)",
    ]
    with psycopg.connect(pg_settings.postgres.dsn(Role.STREAM), autocommit=True) as conn:
        for statement in allowed:
            conn.execute(statement)
        for statement in denied:
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(statement)
