"""`olist metrics publish` reads the audit tables and pushes to a real Pushgateway;
a real Prometheus with the project's rules then raises the batch alerts."""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from olist_pipeline.cli import main
from olist_pipeline.config import Settings
from olist_pipeline.metrics.publish import PushgatewayError, collect, publish
from olist_pipeline.stack.monitoring import PrometheusService, PushgatewayService
from tests.integration.monitoring_support import free_port, insert_rows

pytestmark = pytest.mark.integration

RUN = "run-mon-1"
T0 = datetime(2026, 11, 1, 3, 0, tzinfo=UTC)


def _seed(settings: Settings) -> None:
    def at(minutes: int) -> datetime:
        return T0 + timedelta(minutes=minutes)

    insert_rows(
        settings,
        "audit.step_runs",
        [
            {"run_id": "run-old", "step": "transform.marts", "status": "succeeded",
             "started_at": at(-1440), "finished_at": at(-1430)},
            {"run_id": RUN, "step": "transform.staging", "status": "succeeded",
             "started_at": at(0), "finished_at": at(2)},
            {"run_id": RUN, "step": "transform.marts", "status": "failed",
             "started_at": at(5), "finished_at": at(6)},
            {"run_id": RUN, "step": "dq.staging", "status": "succeeded",
             "started_at": at(3), "finished_at": at(4)},
        ],
    )  # fmt: skip
    insert_rows(
        settings,
        "audit.batches",
        [
            {"table_name": "orders", "batch_id": "orders-1", "status": "succeeded",
             "source_file": "olist_orders_dataset.csv", "source_path": "/x", "sha256": "ab",
             "run_id": RUN, "partition_name": "orders__b1", "source_rows": 10, "loaded_rows": 9,
             "quarantined_rows": 1, "reconciled": True, "started_at": at(0), "finished_at": at(1),
             "duration_ms": 1000},
        ],
    )  # fmt: skip
    insert_rows(
        settings,
        "audit.dq_results",
        [
            {"run_id": RUN, "layer": "staging", "table_name": "orders", "check_name": "unique_key",
             "severity": "error", "observed": 3, "expected": "0", "passed": False,
             "message": "3 duplicate keys", "checked_at": at(4)},
            {"run_id": RUN, "layer": "staging", "table_name": "orders", "check_name": "not_null",
             "severity": "warn", "observed": 0, "expected": "0", "passed": True,
             "message": "ok", "checked_at": at(4)},
        ],
    )  # fmt: skip
    insert_rows(
        settings,
        "audit.parity_results",
        [
            {"run_id": RUN, "day": T0.date(), "measure": "payments:sum", "batch_value": 100,
             "stream_value": 90, "abs_diff": 10, "relative_diff": 0.1, "tolerance": 0.001,
             "passed": False},
            {"run_id": RUN, "day": T0.date() - timedelta(days=1), "measure": "payments:sum",
             "batch_value": 100, "stream_value": 100, "abs_diff": 0, "relative_diff": 0.0,
             "tolerance": 0.001, "passed": True},
        ],
    )  # fmt: skip


@pytest.fixture
def pushgateway(pg_settings: Settings, tmp_path: Path) -> Iterator[PushgatewayService]:
    gw = PushgatewayService(pg_settings, port=free_port(), root=tmp_path / "pushgateway")
    gw.start()
    try:
        yield gw
    finally:
        gw.stop()
    assert not gw.state().running


def _samples(gw: PushgatewayService) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    with urllib.request.urlopen(f"{gw.url}/metrics", timeout=5) as resp:
        text = resp.read().decode()
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name.startswith("olist_"):
                out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def _get(samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str):
    hits = [v for (n, ls), v in samples.items() if n == name and set(labels.items()) <= ls]
    assert len(hits) == 1, (name, labels, hits)
    return hits[0]


def test_publish_pushes_the_runs_metrics_idempotently(
    pg_settings: Settings, pushgateway: PushgatewayService
) -> None:
    _seed(pg_settings)
    pub = publish(pg_settings, RUN, url=pushgateway.url)
    assert [(p.job, p.grouping) for p in pub.pushes] == [
        ("olist_batch", {}),
        ("olist_dq", {"layer": "staging"}),
        ("olist_parity", {}),
    ]
    first = _samples(pushgateway)
    g = _get
    assert g(first, "olist_batch_step_failures_total", step="transform.marts") == 1
    assert g(first, "olist_batch_step_failures_total", step="transform.staging") == 0
    failed_at = g(first, "olist_batch_step_last_failure_timestamp_seconds", step="transform.marts")
    ok_at = g(first, "olist_batch_step_last_success_timestamp_seconds", step="transform.marts")
    assert failed_at == (T0 + timedelta(minutes=6)).timestamp() and ok_at < failed_at
    assert g(first, "olist_batch_step_duration_seconds", step="transform.staging") == 120
    assert g(first, "olist_ingest_rows_total", table="orders", outcome="loaded") == 9
    assert g(first, "olist_ingest_rows_total", table="orders", outcome="quarantined") == 1
    assert g(first, "olist_batch_rows", layer="raw", table="orders") == 9
    passed = g(first, "olist_dq_check_passed", job="olist_dq", check="unique_key")
    assert passed == 0
    assert g(first, "olist_dq_check_passed", check="not_null", severity="warn") == 1
    assert g(first, "olist_dq_check_observed", check="unique_key") == 3
    assert g(first, "olist_parity_passed", job="olist_parity") == 0
    assert g(first, "olist_parity_days_failed") == 1
    assert g(first, "olist_parity_max_relative_diff") == pytest.approx(0.1)

    publish(pg_settings, RUN, url=pushgateway.url)
    assert _samples(pushgateway) == first  # a re-publish changes nothing


def test_the_cli_publishes_and_names_the_fix_when_the_pushgateway_is_down(
    pg_settings: Settings,
    pushgateway: PushgatewayService,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _seed(pg_settings)
    monkeypatch.setenv("OLIST_PG_DATABASE", pg_settings.postgres.database)
    monkeypatch.setenv("OLIST_PUSHGATEWAY_URL", pushgateway.url)
    assert main(["metrics", "publish", "--run-id", RUN]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["run_id"] == RUN and len(out["groups"]) == 3
    assert main(["metrics", "publish", "--run-id", RUN, "--dry-run"]) == 0
    assert 'olist_dq_check_passed{check="unique_key"' in capsys.readouterr().out

    dead = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("OLIST_PUSHGATEWAY_URL", dead)
    assert main(["metrics", "publish", "--run-id", RUN]) == 2
    err = capsys.readouterr().err
    assert "olist stack up monitor" in err and "Traceback" not in err
    with pytest.raises(PushgatewayError):
        publish(replace(pg_settings, pushgateway_url=dead), RUN)

    # No URL given and no local Pushgateway running (`make run` without
    # `make monitor`): nothing to push to, which must not fail the pipeline.
    monkeypatch.delenv("OLIST_PUSHGATEWAY_URL")
    monkeypatch.setenv("OLIST_PUSHGATEWAY_PORT", str(free_port()))
    assert main(["metrics", "publish", "--run-id", RUN]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["pushed"] is False
    assert "make monitor" in captured.err


def test_a_run_without_results_pushes_only_what_exists(pg_settings: Settings) -> None:
    pub = collect(pg_settings, "no-such-run")
    assert pub.pushes == [] and pub.skipped == []


def test_prometheus_raises_the_batch_alerts_from_published_metrics(
    pg_settings: Settings, pushgateway: PushgatewayService, tmp_path: Path
) -> None:
    _seed(pg_settings)
    publish(pg_settings, RUN, url=pushgateway.url)
    prom = PrometheusService(
        pg_settings,
        port=free_port(),
        root=tmp_path / "prometheus",
        scrape_interval="1s",
        evaluation_interval="1s",
        consumer_ports={},
        pushgateway_address=pushgateway.address,
        postgres_exporter_address=f"127.0.0.1:{free_port()}",
    )
    prom.start()
    try:
        wanted = {
            ("OlistBatchStepFailed", "transform.marts"),
            ("OlistSparkAppFailed", "transform.marts"),
            ("OlistDQErrorCheckFailed", None),
            ("OlistParityDrift", None),
        }
        deadline = time.monotonic() + 30
        firing: set[tuple[str, str | None]] = set()
        while time.monotonic() < deadline and not wanted <= firing:
            firing = {
                (str(a["labels"]["alertname"]), a["labels"].get("step"))  # type: ignore[index, union-attr]
                for a in prom.alerts()
                if a["state"] == "firing"
            }
            time.sleep(0.5)
        assert wanted <= firing, firing
        assert ("OlistBatchStepFailed", "transform.staging") not in firing
        assert not any(name == "OlistDQWarningCheckFailed" for name, _ in firing)
    finally:
        prom.stop()
