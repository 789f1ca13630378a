"""DQ results as Prometheus metrics (contract names only), the push, and the CLI surface."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from prometheus_client import generate_latest

from olist_pipeline.cli import main
from olist_pipeline.config import load_settings
from olist_pipeline.dq.gates import metrics_registry
from olist_pipeline.dq.model import Check, Severity, result_for
from olist_pipeline.metrics.push import push_if_configured as push


def _result(passed: bool, severity: Severity = Severity.ERROR) -> object:
    check = Check(
        layer="raw",
        table="raw.orders",
        name="orders_without_items",
        severity=severity,
        sql="SELECT 1, NULL",
        what="orders without items",
    )
    return result_for(check, Decimal(0 if passed else 7), None)


def test_results_become_contract_metrics() -> None:
    registry = metrics_registry("raw", [_result(False, Severity.WARN)], 1_700_000_000.0)  # type: ignore[list-item]
    text = generate_latest(registry).decode()
    assert (
        'olist_dq_check_passed{check="orders_without_items",layer="raw",severity="warn",'
        'table="raw.orders"} 0.0'
    ) in text
    assert (
        'olist_dq_check_observed{check="orders_without_items",layer="raw",table="raw.orders"} 7.0'
    ) in text
    assert 'olist_dq_last_run_timestamp_seconds{layer="raw"} 1.7e+09' in text


class _Gateway(BaseHTTPRequestHandler):
    received: list[tuple[str, str, bytes]] = []  # noqa: RUF012

    def do_PUT(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append(("PUT", self.path, body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def gateway() -> Iterator[str]:
    """A stand-in Pushgateway on a free loopback port, recording what it is sent."""
    server = HTTPServer(("127.0.0.1", 0), _Gateway)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _Gateway.received.clear()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()


def test_metrics_are_pushed_per_layer_when_a_pushgateway_is_set(gateway: str) -> None:
    settings = load_settings({"OLIST_PUSHGATEWAY_URL": gateway})
    registry = metrics_registry("staging", [_result(True)], 1.0)  # type: ignore[list-item]
    assert push(settings, registry, "olist_dq", {"layer": "staging"}) is True
    method, path, body = _Gateway.received[0]
    assert (method, path) == ("PUT", "/metrics/job/olist_dq/layer/staging")
    assert b"olist_dq_check_passed" in body


def test_no_pushgateway_no_push_and_an_unreachable_one_is_not_fatal() -> None:
    registry = metrics_registry("raw", [], 1.0)
    assert push(load_settings({}), registry, "olist_dq", {"layer": "raw"}) is False
    down = load_settings({"OLIST_PUSHGATEWAY_URL": "http://127.0.0.1:9"})
    assert push(down, registry, "olist_dq", {"layer": "raw"}) is False


def test_cli_needs_a_run_id_and_a_known_layer(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OLIST_RUN_ID", raising=False)
    assert main(["dq", "run", "--layer", "raw"]) == 2
    assert "--run-id is required" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(["dq", "run", "--layer", "gold", "--run-id", "r"])
    assert exc.value.code == 2
    assert main(["dq", "parity", "--run-id", "r", "--tolerance", "-1"]) == 2


def test_dq_list_prints_every_layer(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["dq", "list"]) == 0
    out = capsys.readouterr().out
    for layer in ("raw", "staging", "warehouse", "marts"):
        assert f"\n{layer} " in f"\n{out}"
    assert "duplicate_review_ids (quirk)" in out
