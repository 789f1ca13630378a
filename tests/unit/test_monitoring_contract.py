"""The metrics contract (src/olist_pipeline/metrics/metrics.yaml) holds.

- code cannot export a metric the contract lacks: ``metric()`` refuses unknown
  names, and no module builds prometheus_client metrics around it;
- the contract names no metric that nothing exports: every name is used in
  the package's code;
- names, types and labels follow Prometheus conventions.
"""

from __future__ import annotations

import ast
import re
from functools import cache
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from olist_pipeline.metrics.metrics import UnknownMetricError, contract, metric

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "src" / "olist_pipeline"
FACTORY = PACKAGE / "metrics" / "metrics.py"
METRIC_CLASSES = {"Counter", "Gauge", "Histogram", "Summary", "Info", "Enum"}


def _sources() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if p != FACTORY)


@cache
def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(), str(path))


def test_metric_refuses_a_name_the_contract_lacks() -> None:
    with pytest.raises(UnknownMetricError, match="not in the metrics contract"):
        metric("olist_made_up_total", CollectorRegistry())


def test_every_contract_metric_can_be_created_with_its_labels() -> None:
    registry = CollectorRegistry()
    for name, spec in contract().items():
        m = metric(name, registry)
        if spec.labels:
            m.labels(*["x"] * len(spec.labels))
        assert metric(name, registry) is m  # registered once per registry
    exposed = {s.name for family in registry.collect() for s in family.samples}
    for name, spec in contract().items():
        wanted = f"{name}_bucket" if spec.type == "histogram" else name
        assert wanted in exposed, name


def test_no_module_creates_prometheus_metrics_outside_the_factory() -> None:
    offenders: list[str] = []
    for path in _sources():
        tree = _tree(path)
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
                "prometheus_client"
            ):
                bad = {a.name for a in node.names} & METRIC_CLASSES
                if bad:
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno} imports {bad}")
            if (
                isinstance(node, ast.Attribute)
                and node.attr in METRIC_CLASSES
                and isinstance(node.value, ast.Name)
                and node.value.id in {"prometheus_client", "prom"}
            ):
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno} uses {node.attr}")
    assert not offenders, "create metrics with metrics.metrics.metric(): " + "; ".join(offenders)


def test_every_contract_metric_is_used_by_the_code() -> None:
    code = "\n".join(p.read_text() for p in _sources())
    unused = [name for name in contract() if not re.search(rf"\b{name}\b", code)]
    assert not unused, f"contract metrics nothing exports: {unused}"


def test_every_metric_call_in_the_code_names_a_contract_metric() -> None:
    """metric() refuses unknown names at run time; this finds them before that."""
    known = set(contract())
    calls = 0
    for path in _sources():
        tree = _tree(path)
        constants = {
            t.id: node.value.value
            for node in ast.walk(tree)
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant)
            for t in node.targets
            if isinstance(t, ast.Name) and isinstance(node.value.value, str)
        }
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and node.args):
                continue
            func = node.func
            fname = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
            if fname != "metric":
                continue
            arg = node.args[0]
            name = (
                arg.value
                if isinstance(arg, ast.Constant)
                else constants.get(arg.id)
                if isinstance(arg, ast.Name)
                else None
            )
            assert name is not None, f"{path.relative_to(ROOT)}:{node.lineno}: dynamic name"
            assert name in known, f"{path.relative_to(ROOT)}:{node.lineno}: {name}"
            calls += 1
    assert calls >= len(known) // 2


def test_names_types_and_labels_follow_prometheus_conventions() -> None:
    label = re.compile(r"[a-z_][a-z0-9_]*")
    for name, spec in contract().items():
        assert re.fullmatch(r"olist_[a-z0-9_]+", name), name
        assert spec.type in {"counter", "gauge", "histogram"}, name
        assert spec.source in {"consumer", "producer", "live", "batch", "airflow"}, name
        assert (spec.type == "counter") == name.endswith("_total"), name
        assert spec.help.strip(), name
        for lab in spec.labels:
            assert label.fullmatch(lab) and not lab.startswith("__"), (name, lab)
            # Prometheus sets these on scrape; a metric label would be renamed.
            assert lab not in {"job", "instance"}, (name, lab)
        if spec.type == "histogram":
            assert spec.buckets and list(spec.buckets) == sorted(spec.buckets), name


def test_monitoring_folder_shows_the_same_contract() -> None:
    link = ROOT / "monitoring" / "metrics.yaml"
    assert link.resolve() == (PACKAGE / "metrics" / "metrics.yaml").resolve()


def test_a_new_registry_never_gets_a_collected_registrys_metrics() -> None:
    from prometheus_client import CollectorRegistry

    from olist_pipeline.metrics import metrics
    from olist_pipeline.metrics.metrics import metric

    # A registry has no reference cycle, so dropping the last reference frees it at
    # once and CPython hands its address to the next one: no gc.collect() is needed
    # for a new registry to share a collected one's id() (the hazard under test).
    held_before = len(metrics._BY_REGISTRY)
    seen: set[int] = set()
    reused = 0
    for i in range(50):
        registry = CollectorRegistry()
        reused += id(registry) in seen
        seen.add(id(registry))
        metric("olist_parity_passed", registry).set(i)
        assert registry.get_sample_value("olist_parity_passed") == i
        del registry
    assert reused, "no registry reused a collected one's address: the test proved nothing"
    # Collected registries leave the map (it holds them weakly).
    assert len(metrics._BY_REGISTRY) == held_before
