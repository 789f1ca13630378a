"""The main job end to end: the same path as `make run`, at small scale.

Runs `olist run` as a user would (a subprocess) against the real local stack
in a database and Kafka namespace of its own, then checks that the summary's
figures are what the warehouse and marts hold, and that the report renders
every chart in a real headless browser.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from olist_pipeline.config import Role, Settings
from olist_pipeline.db import connect
from olist_pipeline.report.report import CHART_KEYS
from tests.conftest import cloned_database

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CHROMIUM = Path("/usr/bin/chromium")


@pytest.fixture(scope="module")
def run(
    template_database: str, base_settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    with cloned_database(base_settings, template_database, "olist_e2e_") as db:
        settings = db.with_kafka_namespace(f"e2e{uuid.uuid4().hex[:6]}.")
        out = tmp_path_factory.mktemp("run")
        run_id = f"e2e-{uuid.uuid4().hex[:8]}"
        env = {
            **os.environ,
            "OLIST_PG_DATABASE": settings.postgres.database,
            "OLIST_KAFKA_NAMESPACE": settings.kafka.namespace,
            "OLIST_STATE_DIR": str(base_settings.local.state_dir),
            "KEEP": "1",
        }
        env.pop("OLIST_DATA_DIR", None)
        proc = subprocess.run(
            [sys.executable, "-m", "olist_pipeline.cli", "run", "--run-id", run_id,
             "--scale", "0.01", "--seed", "7", "--report", str(out / "report.html")],
            env=env, capture_output=True, text=True, timeout=1500, check=False,
        )  # fmt: skip
        yield {
            "proc": proc,
            "settings": settings,
            "run_id": run_id,
            "report": out / "report.html",
            "summary": out / f"summary-{run_id}.json",
        }


def _one(settings: Settings, query: str) -> Any:
    # The quality role reads every layer, the stream's event tables included (the
    # reader never sees raw; the transformer no longer reads the event tables).
    with connect(settings, Role.QUALITY) as conn:
        row = conn.execute(query).fetchone()
    assert row is not None
    return row[0]


def test_run_succeeds_and_says_what_it_did(run: dict[str, Any]) -> None:
    proc = run["proc"]
    assert proc.returncode == 0, f"stdout:\n{proc.stdout[-3000:]}\nstderr:\n{proc.stderr[-3000:]}"
    for step in (
        "Batch: Airflow olist_batch",
        "Consumers catch up",
        "Batch/stream parity",
        "Report",
    ):
        assert step in proc.stdout
    assert "Traceback" not in proc.stdout + proc.stderr


def test_summary_figures_equal_what_the_database_holds(run: dict[str, Any]) -> None:
    summary = json.loads(run["summary"].read_text())
    settings = run["settings"]
    assert summary["run_id"] == run["run_id"]
    for layer, table in (("warehouse", "fact_order_items"), ("marts", "customer_rfm"),
                         ("staging", "orders"), ("raw", "orders")):  # fmt: skip
        assert summary["rows"][layer][table] == _one(
            settings, f"SELECT count(*) FROM {layer}.{table}"
        )
        assert summary["rows"][layer][table] > 0
    assert Decimal(summary["business"]["gmv"]) == _one(
        settings, "SELECT sum(gmv)::numeric(14,2) FROM marts.sales_monthly"
    )
    assert summary["business"]["orders"] == _one(
        settings, "SELECT count(DISTINCT order_id) FROM warehouse.fact_order_items"
    )
    segments = dict(summary["business"]["rfm_segments"])
    assert sum(segments.values()) == _one(settings, "SELECT count(*) FROM marts.customer_rfm")
    assert summary["dq"]["failed"] == 0 and summary["dq"]["passed"] > 0
    for stream, table in (("orders", "order_events"), ("payments", "payment_events")):
        ev = summary["events"][stream]
        assert ev["produced"] > 0
        assert (
            ev["stored"]
            == ev["produced"]
            == _one(settings, f"SELECT count(*) FROM staging.{table}")
        )
        assert ev["dead_lettered"] == 0
    assert summary["parity"]["passed"] is True


def test_report_holds_every_chart(run: dict[str, Any]) -> None:
    html = run["report"].read_text()
    for key in CHART_KEYS:
        assert f'data-chart="{key}"' in html
    assert html.count('src="data:image/png;base64,') == len(CHART_KEYS)


def test_every_chart_renders_in_a_headless_browser(run: dict[str, Any]) -> None:
    if not CHROMIUM.exists():
        pytest.fail("Debian chromium is not installed (make setup installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"],
        )  # fmt: skip
        try:
            page = browser.new_page()
            page.goto(run["report"].resolve().as_uri())
            rendered = page.eval_on_selector_all(
                "figure.chart img",
                "imgs => imgs.map(i => [i.closest('figure').dataset.chart,"
                " i.complete && i.naturalWidth > 0 && i.naturalHeight > 0])",
            )
        finally:
            browser.close()
    assert sorted(k for k, _ in rendered) == sorted(CHART_KEYS)
    assert all(ok for _, ok in rendered), rendered
