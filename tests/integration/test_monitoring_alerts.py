"""Failure injection on the local stack: the project's alert rules fire and resolve.

A real Prometheus (Debian's binary, its own port and folder) loads
monitoring/rules unchanged, with 1 s scrape and evaluation intervals, and
scrapes a real `olist stream consume` while a producer keeps events flowing:

- a poison event makes OlistDLQRate fire;
- stopping the consumer makes OlistConsumerDown fire within its `for:` (1m)
  plus one scrape interval, and not before the `for:` has elapsed;
- restarting the consumer resolves it.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from olist_pipeline.config import Settings
from olist_pipeline.stack.monitoring import PrometheusService
from olist_pipeline.stream.topics import create_topics

pytestmark = pytest.mark.integration

REALDATA = Path(__file__).resolve().parents[2].parent / "shared" / "realdata"
SCRAPE = 1.0  # seconds, scrape and evaluation interval of this test's Prometheus
FOR_CONSUMER_DOWN = 60.0  # `for:` of OlistConsumerDown in monitoring/rules/olist-alerts.yaml
# Machine load on a shared 2-core box: polls and process exits are not instant.
SLACK = 5.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _env(settings: Settings) -> dict[str, str]:
    env = {
        **os.environ,
        "OLIST_PG_DATABASE": settings.postgres.database,
        "OLIST_PG_PORT": str(settings.postgres.port),
        "OLIST_KAFKA_BOOTSTRAP": settings.kafka.bootstrap_servers,
        "OLIST_KAFKA_NAMESPACE": settings.kafka.namespace,
        "OLIST_LOG_FORMAT": "json",
    }
    env.pop("OLIST_LOG_FILE", None)
    return env


def _olist(settings: Settings, log: Path, *args: str) -> subprocess.Popen[bytes]:
    out = log.open("ab")
    return subprocess.Popen(
        [sys.executable, "-m", "olist_pipeline.cli", *args],
        env=_env(settings),
        stdout=out,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )


def _stop(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def _wait(what: str, predicate: Callable[[], bool], timeout: float) -> float:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if predicate():
            return time.monotonic()
        time.sleep(0.25)
    pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}")


def _alert(prom: PrometheusService, name: str, **labels: str) -> dict[str, Any] | None:
    for a in prom.alerts():
        got: dict[str, str] = a["labels"]  # type: ignore[assignment]
        if got.get("alertname") == name and all(got.get(k) == v for k, v in labels.items()):
            return a
    return None


def _state(prom: PrometheusService, name: str, **labels: str) -> str | None:
    a = _alert(prom, name, **labels)
    return str(a["state"]) if a else None


def _unix(rfc3339: str) -> float:
    """Prometheus' activeAt (nanoseconds, Z) as Unix time."""
    head, _, frac = rfc3339.rstrip("Z").partition(".")
    return datetime.fromisoformat(head).replace(tzinfo=UTC).timestamp() + float(f"0.{frac or 0}")


def _value(prom: PrometheusService, expr: str) -> float:
    result = prom.query(expr)
    return float(result[0]["value"][1]) if result else 0.0  # type: ignore[index]


def _generated(settings: Settings, out: Path) -> Path:
    """Without the shared real files, a small generated Olist folder."""
    gen = _olist(settings, out.with_suffix(".log"), "data", "generate", "--scale", "0.03",
                 "--seed", "7", "--out", str(out))  # fmt: skip
    assert gen.wait(300) == 0, out.with_suffix(".log").read_text()[-2000:]
    return out


@pytest.fixture
def prometheus(settings: Settings, tmp_path: Path) -> Iterator[tuple[PrometheusService, int]]:
    consumer_port = _free_port()
    prom = PrometheusService(
        settings,
        port=_free_port(),
        root=tmp_path / "prometheus",
        scrape_interval=f"{SCRAPE:.0f}s",
        evaluation_interval=f"{SCRAPE:.0f}s",
        consumer_ports={"orders": consumer_port},
        # Nothing listens there: this test is about the consumer.
        pushgateway_address=f"127.0.0.1:{_free_port()}",
        postgres_exporter_address=f"127.0.0.1:{_free_port()}",
    )
    prom.start()
    try:
        yield prom, consumer_port
    finally:
        prom.stop()
    assert not prom.state().running


def test_consumer_down_and_dlq_alerts_fire_and_resolve(
    settings: Settings, prometheus: tuple[PrometheusService, int], tmp_path: Path
) -> None:
    data = REALDATA if REALDATA.is_dir() else _generated(settings, tmp_path / "data")
    prom, port = prometheus
    rules = {r["name"] for g in prom_rules(prom) for r in g["rules"]}
    assert {"OlistConsumerDown", "OlistDLQRate", "OlistConsumerStalled"} <= rules

    create_topics(settings)
    consume = ("stream", "consume", "--stream", "orders", "--metrics-port", str(port))
    consumer = _olist(settings, tmp_path / "consumer.log", *consume)
    producer: subprocess.Popen[bytes] | None = None
    try:
        _wait(
            "Prometheus to scrape the consumer",
            lambda: _value(prom, 'up{job="olist-consumers",consumer="orders"}') == 1,
            60,
        )
        # One poison message among a few whole order lifecycles.
        burst = _olist(
            settings, tmp_path / "burst.log",
            "stream", "produce", "--data-dir", str(data), "--stream", "orders",
            "--limit", "20", "--poison", "1",
        )  # fmt: skip
        assert burst.wait(120) == 0, (tmp_path / "burst.log").read_text()[-2000:]
        _wait(
            "OlistDLQRate to fire",
            lambda: _state(prom, "OlistDLQRate", stream="orders") == "firing",
            30,
        )
        assert _value(prom, 'sum(olist_consumer_dlq_total{stream="orders"})') >= 1

        # Events keep flowing (slowly) through the outage and the restart.
        producer = _olist(
            settings, tmp_path / "producer.log",
            "stream", "produce", "--data-dir", str(data), "--stream", "orders",
            "--limit", "3000", "--rate", "20",
        )  # fmt: skip
        _wait(
            "the consumer to store flowing events",
            lambda: _value(prom, 'sum(olist_consumer_messages_total{stream="orders"})') > 40,
            60,
        )
        assert _state(prom, "OlistConsumerDown", consumer="orders") is None

        stopped = time.time()
        _stop(consumer)
        assert producer.poll() is None, "events must flow while the consumer is down"
        _wait(
            "OlistConsumerDown to go pending",
            lambda: _state(prom, "OlistConsumerDown", consumer="orders") is not None,
            3 * SCRAPE + SLACK,
        )
        assert _state(prom, "OlistConsumerDown", consumer="orders") == "pending"
        _wait(
            "OlistConsumerDown to fire",
            lambda: _state(prom, "OlistConsumerDown", consumer="orders") == "firing",
            FOR_CONSUMER_DOWN + 2 * SCRAPE + SLACK,
        )
        fired = time.time()
        firing = _alert(prom, "OlistConsumerDown", consumer="orders")
        assert firing is not None
        active_at = _unix(str(firing["activeAt"]))
        # Became active with the outage (not before) ...
        assert active_at >= stopped - 0.5
        # ... honours its `for:` (Prometheus' own clock) ...
        assert fired - active_at >= FOR_CONSUMER_DOWN - 0.5
        # ... and fires within `for:` plus one scrape interval (plus evaluation and load).
        assert fired - stopped <= FOR_CONSUMER_DOWN + SCRAPE + SCRAPE + SLACK
        assert firing["labels"]["severity"] == "critical"  # type: ignore[index]
        assert str(firing["annotations"]["runbook_url"]).endswith(  # type: ignore[index]
            "monitoring/runbooks/OlistConsumerDown.md"
        )

        assert producer.poll() is None, "events must still flow for the restart"
        consumer = _olist(settings, tmp_path / "consumer2.log", *consume)
        _wait(
            "OlistConsumerDown to resolve after the restart",
            lambda: _alert(prom, "OlistConsumerDown") is None,
            30,
        )
        # The restarted consumer works through what arrived meanwhile.
        _wait(
            "the restarted consumer to store events",
            lambda: (
                _value(prom, 'sum(olist_consumer_messages_total{stream="orders"})') > 0
                and _value(prom, 'up{job="olist-consumers",consumer="orders"}') == 1
            ),
            30,
        )
    finally:
        _stop(consumer)
        if producer is not None:
            _stop(producer, signal.SIGKILL)


def prom_rules(prom: PrometheusService) -> list[dict[str, Any]]:
    import json
    import urllib.request

    with urllib.request.urlopen(f"{prom.url}/api/v1/rules", timeout=5) as resp:
        groups: list[dict[str, Any]] = json.loads(resp.read())["data"]["groups"]
    return groups
