"""Grafana dashboards are code: a valid dashboard model, fixed datasource uids,
PromQL that promtool parses, and every contract metric visible somewhere.

The SQL panels run against a real migrated and filled warehouse in
tests/integration/test_monitoring_dashboards_sql.py.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from olist_pipeline.metrics.metrics import contract

ROOT = Path(__file__).resolve().parents[2]
DASHBOARDS = ROOT / "monitoring" / "dashboards"
RULES = ROOT / "monitoring" / "rules"
# Fixed uids, provisioned by k8s/values/kube-prometheus-stack.yaml.
PROMETHEUS = {"type": "prometheus", "uid": "prometheus"}
WAREHOUSE = {"type": "grafana-postgresql-datasource", "uid": "olist-warehouse"}
PANEL_TYPES = {"row", "timeseries", "stat", "table", "barchart", "gauge", "bargauge", "text"}


def _load(name: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((DASHBOARDS / name).read_text())
    return doc


def _panels(doc: dict[str, Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for p in doc["panels"]:
        out.append(p)
        out.extend(p.get("panels") or [])
    return out


def _targets(doc: dict[str, Any]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    return [(p, t) for p in _panels(doc) for t in p.get("targets") or []]


def test_the_two_dashboards_exist() -> None:
    assert sorted(p.name for p in DASHBOARDS.glob("*.json")) == [
        "business.json",
        "pipeline-health.json",
    ]


@pytest.mark.parametrize("name", ["pipeline-health.json", "business.json"])
def test_dashboard_model(name: str) -> None:
    doc = _load(name)
    for key in ("uid", "title", "schemaVersion", "panels", "time", "templating"):
        assert key in doc, f"{name}: no {key}"
    assert re.fullmatch(r"[a-z0-9-]{1,40}", doc["uid"])
    assert isinstance(doc["schemaVersion"], int) and doc["schemaVersion"] >= 36
    assert "__inputs" not in doc, "export with fixed uids, not ${DS_...} inputs"
    assert "${DS_" not in json.dumps(doc)
    panels = _panels(doc)
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids)), f"{name}: duplicate panel ids"
    cells: set[tuple[int, int]] = set()
    for p in panels:
        assert p["type"] in PANEL_TYPES, f"{name}: unknown panel type {p['type']}"
        assert p.get("title"), f"{name}: panel {p['id']} has no title"
        g = p["gridPos"]
        assert g["x"] >= 0 and g["w"] > 0 and g["x"] + g["w"] <= 24 and g["h"] > 0
        mine = {
            (x, y) for x in range(g["x"], g["x"] + g["w"]) for y in range(g["y"], g["y"] + g["h"])
        }
        assert not mine & cells, f"{name}: panel {p['title']!r} overlaps another"
        cells |= mine
        if p["type"] != "row":
            assert p.get("targets"), f"{name}: panel {p['title']!r} has no query"
            assert p.get("description"), f"{name}: panel {p['title']!r} has no description"


def test_pipeline_health_queries_prometheus_only() -> None:
    for panel, target in _targets(_load("pipeline-health.json")):
        assert panel["datasource"] == PROMETHEUS, panel["title"]
        assert target["datasource"] == PROMETHEUS and target["expr"].strip()


def test_business_queries_the_warehouse_only() -> None:
    doc = _load("business.json")
    for panel, target in _targets(doc):
        assert panel["datasource"] == WAREHOUSE, panel["title"]
        assert target["datasource"] == WAREHOUSE
        assert target["rawQuery"] is True and target["rawSql"].strip()
        assert target["format"] in {"table", "time_series"}
        if target["format"] == "time_series":
            assert 'AS "time"' in target["rawSql"], panel["title"]
    for var in doc["templating"]["list"]:
        assert var["datasource"] == WAREHOUSE


def test_business_covers_what_the_issue_lists() -> None:
    sql = " ".join(t["rawSql"] for _, t in _targets(_load("business.json")))
    for needle in ("gmv", "aov", "on_time", "customer_state", "product_category",
                   "marts.customer_rfm", "segment", "marts.seller_scorecard"):  # fmt: skip
        assert needle in sql, needle


def test_every_promql_expression_parses() -> None:
    """promtool has no bare `parse` command: each expression becomes a recording rule."""
    promtool = shutil.which("promtool")
    if not promtool:
        pytest.fail("promtool not found: install Debian's `prometheus` package (make setup)")
    exprs = [t["expr"] for _, t in _targets(_load("pipeline-health.json"))]
    assert len(exprs) > 20
    rules = {
        "groups": [
            {
                "name": "dashboard-exprs",
                "rules": [
                    {"record": f"dashboard:expr_{i}", "expr": e} for i, e in enumerate(exprs)
                ],
            }
        ]
    }
    import tempfile

    with tempfile.NamedTemporaryFile("w", suffix=".yaml") as f:
        yaml.safe_dump(rules, f)
        f.flush()
        out = subprocess.run(
            [promtool, "check", "rules", f.name], capture_output=True, text=True, check=False
        )
    assert out.returncode == 0, out.stdout + out.stderr


def test_every_recording_rule_the_dashboard_uses_exists() -> None:
    recorded = {
        r["record"]
        for path in RULES.glob("*.yaml")
        for g in yaml.safe_load(path.read_text())["groups"]
        for r in g["rules"]
        if "record" in r
    }
    for _, target in _targets(_load("pipeline-health.json")):
        for name in re.findall(r"\b[a-z_]+:[a-z0-9_]+:[a-z0-9_]+\b", target["expr"]):
            assert name in recorded, name


def test_every_contract_metric_is_on_a_dashboard_or_in_a_rule() -> None:
    text = (DASHBOARDS / "pipeline-health.json").read_text() + "".join(
        p.read_text() for p in RULES.glob("*.yaml")
    )
    missing = [name for name in contract() if name not in text]
    assert not missing, f"contract metrics nobody watches: {missing}"
