"""Topic declaration and the consumer's HTTP endpoints (a thread, no process)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

from olist_pipeline.config import load_settings
from olist_pipeline.metrics.metrics import contract
from olist_pipeline.stream.health import HealthServer, HealthState
from olist_pipeline.stream.topics import STREAMS, all_topics, declaration, stream_spec


def test_every_stream_has_a_topic_and_a_dead_letter_topic() -> None:
    assert set(declaration()) == set(STREAMS)
    names = [t.name for t in all_topics()]
    assert len(names) == len(set(names)) == 4
    for s in STREAMS:
        spec = stream_spec(s)
        assert spec.dlq.name.endswith(".dlq.v1") and spec.topic.partitions >= 1
        assert int(spec.dlq.config["retention.ms"]) > int(spec.topic.config["retention.ms"])
        assert spec.topic.config["cleanup.policy"] == "delete"


def test_names_go_through_the_kafka_namespace() -> None:
    settings = load_settings({"OLIST_KAFKA_NAMESPACE": "t123."})
    spec = stream_spec("orders")
    assert spec.topic_name(settings) == "t123.olist.orders.v1"
    assert spec.dlq_name(settings) == "t123.olist.orders.dlq.v1"
    assert spec.group(settings) == "t123.olist.orders.sink"


def test_consumer_and_producer_metrics_are_in_the_contract() -> None:
    names = {n for n, spec in contract().items() if spec.source in ("consumer", "producer")}
    assert {
        "olist_consumer_messages_total",
        "olist_consumer_batch_seconds",
        "olist_consumer_event_lag_seconds",
        "olist_consumer_lag_messages",
        "olist_consumer_dlq_total",
        "olist_consumer_last_event_timestamp_seconds",
        "olist_consumer_last_commit_timestamp_seconds",
        "olist_producer_events_total",
    } <= names


def _get(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def test_health_endpoints_follow_the_state() -> None:
    state = HealthState(liveness_timeout=30)
    server = HealthServer(state, "127.0.0.1", 0).start()
    try:
        assert _get(server.port, "/healthz")[0] == 200
        code, body = _get(server.port, "/readyz")
        assert code == 503 and json.loads(body)["assigned_partitions"] == 0
        state.assigned, state.db_ok = 2, True
        assert _get(server.port, "/readyz")[0] == 200
        state.db_ok = False
        assert _get(server.port, "/readyz")[0] == 503
        state.heartbeat -= 60
        assert _get(server.port, "/healthz")[0] == 503
        code, text = _get(server.port, "/metrics")
        assert code == 200 and "# HELP" in text
        assert _get(server.port, "/nope")[0] == 404
    finally:
        server.stop()
