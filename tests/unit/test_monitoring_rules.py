"""Prometheus rules are code: promtool validates and unit-tests them.

promtool comes from Debian's ``prometheus`` package (``make setup``); without it
these tests fail rather than skip, so CI cannot go green untested.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from olist_pipeline.metrics.metrics import contract

ROOT = Path(__file__).resolve().parents[2]
MONITORING = ROOT / "monitoring"
RULE_FILES = sorted((MONITORING / "rules").glob("*.yaml"))
TEST_FILES = sorted((MONITORING / "rules" / "tests").glob("*.yaml"))
RUNBOOK_BASE = "https://github.com/olist-pipeline/olist-pipeline/blob/main/monitoring/runbooks/"
# Every alert in the list, by the name it carries here.
REQUIRED_ALERTS = {
    "OlistConsumerLagHigh",
    "OlistConsumerStalled",
    "OlistConsumerDown",
    "OlistDLQRate",
    "OlistDQErrorCheckFailed",
    "OlistSparkAppFailed",
    "OlistBatchDAGFailed",
    "OlistBatchLate",
    "OlistStreamFreshness",
    "OlistParityDrift",
    "OlistPostgresDown",
}


def promtool() -> str:
    found = shutil.which("promtool")
    if not found:
        pytest.fail("promtool not found: install Debian's `prometheus` package (make setup)")
    return found


def _rules() -> list[dict[str, Any]]:
    rules: list[dict[str, Any]] = []
    for path in RULE_FILES:
        for group in yaml.safe_load(path.read_text())["groups"]:
            rules.extend(group["rules"])
    return rules


def _alerts() -> dict[str, dict[str, Any]]:
    alerts = [r for r in _rules() if "alert" in r]
    names = [a["alert"] for a in alerts]
    assert len(names) == len(set(names)), f"duplicate alert names: {names}"
    return {a["alert"]: a for a in alerts}


def test_rule_files_exist_and_are_plain_prometheus_rule_files() -> None:
    assert RULE_FILES and TEST_FILES
    for path in RULE_FILES:
        doc = yaml.safe_load(path.read_text())
        assert set(doc) == {"groups"}, f"{path.name}: a plain rule file has only `groups:`"


def test_promtool_check_rules() -> None:
    out = subprocess.run(
        [promtool(), "check", "rules", *map(str, RULE_FILES)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 0, out.stdout + out.stderr


def test_promtool_unit_tests_pass() -> None:
    out = subprocess.run(
        [promtool(), "test", "rules", *map(str, TEST_FILES)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 0, out.stdout + out.stderr


def test_every_required_alert_exists() -> None:
    assert not REQUIRED_ALERTS - set(_alerts())


@pytest.mark.parametrize("name", sorted(_alerts()))
def test_alert_carries_for_severity_annotations_and_a_runbook(name: str) -> None:
    alert = _alerts()[name]
    assert "for" in alert, f"{name} has no `for:`"
    assert alert["labels"]["severity"] in {"critical", "warning"}
    annotations = alert["annotations"]
    assert annotations["summary"].strip() and annotations["description"].strip()
    assert annotations["runbook_url"] == f"{RUNBOOK_BASE}{name}.md"
    runbook = MONITORING / "runbooks" / f"{name}.md"
    assert runbook.is_file(), f"missing runbook {runbook}"
    assert runbook.read_text().startswith(f"# {name}\n")


def test_no_runbook_without_an_alert() -> None:
    runbooks = {p.stem for p in (MONITORING / "runbooks").glob("*.md")}
    assert runbooks == set(_alerts())


def _alert_tests() -> list[dict[str, Any]]:
    cases: list[dict[str, Any]] = []
    for path in TEST_FILES:
        for test in yaml.safe_load(path.read_text())["tests"]:
            cases.extend(test.get("alert_rule_test") or [])
    return cases


@pytest.mark.parametrize("name", sorted(_alerts()))
def test_every_alert_has_a_firing_and_a_silent_promtool_case(name: str) -> None:
    cases = [c for c in _alert_tests() if c["alertname"] == name]
    assert any(c.get("exp_alerts") for c in cases), f"{name}: no case where it fires"
    assert any(not c.get("exp_alerts") for c in cases), f"{name}: no case where it is silent"


_HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")


def test_every_olist_metric_in_the_rules_is_in_the_contract() -> None:
    known = set(contract())
    for rule in _rules():
        for name in set(re.findall(r"\bolist_[a-z0-9_]+", rule["expr"])):
            base = name
            for suffix in _HISTOGRAM_SUFFIXES:
                if name.endswith(suffix) and name.removesuffix(suffix) in known:
                    base = name.removesuffix(suffix)
            assert base in known, f"{rule.get('alert') or rule['record']}: {name} not in contract"
