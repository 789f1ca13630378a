"""Policies over every workload we ship: the chart (default and CI values), k8s/ manifests and
the SparkApplication templates. Each rule names the object that breaks it."""

from __future__ import annotations

import base64
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.charts.conftest import (
    CHART,
    CI_VALUES,
    REPO_ROOT,
    by_kind,
    k8s_manifest_files,
    k8s_manifests,
    pod_specs,
)
from tests.k8s_validate import validate_all

LONG_RUNNING = {"Deployment", "StatefulSet", "DaemonSet"}
SECRET_NAME = re.compile(r"(PASSWORD|PASSWD|SECRET|TOKEN|API_?KEY|PRIVATE_?KEY|CREDENTIAL)", re.I)
SPARK_TEMPLATES = sorted((REPO_ROOT / "spark-apps" / "k8s").glob("*.yaml"))


def _containers(spec: dict[str, Any]) -> list[dict[str, Any]]:
    return list(spec.get("initContainers", [])) + list(spec["containers"])


def _workloads(docs: list[dict[str, Any]]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(d["kind"], where, spec) for d in docs for where, spec in pod_specs(d)]


# ------------------------------------------------------- validation of k8s/ + Spark


@pytest.mark.parametrize(
    "path", k8s_manifest_files(), ids=lambda p: str(p.relative_to(REPO_ROOT / "k8s"))
)
def test_k8s_manifests_validate_strictly(path: Path) -> None:
    docs = [d for d in yaml.safe_load_all(path.read_text("utf-8")) if d]
    assert docs
    assert validate_all(docs) == []


@pytest.mark.parametrize("path", SPARK_TEMPLATES, ids=lambda p: p.name)
def test_spark_application_templates_validate_strictly(path: Path) -> None:
    (doc,) = [d for d in yaml.safe_load_all(path.read_text("utf-8")) if d]
    assert validate_all([doc]) == []


def _spark_pods() -> list[tuple[str, dict[str, Any]]]:
    out = []
    for path in SPARK_TEMPLATES:
        doc = yaml.safe_load(path.read_text("utf-8"))
        for part in ("driver", "executor"):
            out.append(
                (f"{path.name}:{part}", {**doc["spec"][part], "image": doc["spec"]["image"]})
            )
    return out


@pytest.mark.parametrize("where_pod", _spark_pods(), ids=lambda wp: wp[0])
def test_spark_pods_are_pinned_sized_and_unprivileged(
    where_pod: tuple[str, dict[str, Any]],
) -> None:
    where, pod = where_pod
    image = pod["image"]
    assert ":" in image.rsplit("/", 1)[-1] and not image.endswith(":latest"), where
    assert pod.get("cores") and pod.get("memory") and pod.get("coreLimit"), where
    assert pod["podSecurityContext"]["runAsNonRoot"] is True, where
    assert pod["securityContext"]["allowPrivilegeEscalation"] is False, where
    assert "ALL" in pod["securityContext"]["capabilities"]["drop"], where


# ------------------------------------------------------------------- workloads


def test_chart_has_workloads(docs: list[dict[str, Any]]) -> None:
    assert _workloads(docs)


def test_images_are_pinned(docs: list[dict[str, Any]]) -> None:
    for _, where, spec in _workloads(docs):
        for c in _containers(spec):
            image = c["image"]
            name = image.rsplit("/", 1)[-1]
            assert "@sha256:" in image or ":" in name, f"{where}: untagged image {image}"
            assert not image.endswith(":latest"), f"{where}: {image}"
            assert c.get("imagePullPolicy") == "IfNotPresent", f"{where}: {c['name']}"


def test_requests_and_limits_are_set(docs: list[dict[str, Any]]) -> None:
    for _, where, spec in _workloads(docs):
        for c in _containers(spec):
            res = c.get("resources", {})
            for part in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(res.get(part, {})), f"{where}:{c['name']} {part}"


def test_long_running_containers_have_probes(docs: list[dict[str, Any]]) -> None:
    for kind, where, spec in _workloads(docs):
        if kind in LONG_RUNNING:
            for c in spec["containers"]:
                for probe in ("livenessProbe", "readinessProbe"):
                    assert probe in c, f"{where}:{c['name']} lacks {probe}"


def test_pods_run_unprivileged(docs: list[dict[str, Any]]) -> None:
    for _, where, spec in _workloads(docs):
        pod_sc = spec.get("securityContext", {})
        assert pod_sc.get("seccompProfile", {}).get("type") == "RuntimeDefault", where
        for c in _containers(spec):
            sc = c.get("securityContext", {})
            assert sc.get("runAsNonRoot", pod_sc.get("runAsNonRoot")) is True, (
                f"{where}:{c['name']}"
            )
            assert (sc.get("runAsUser") or pod_sc.get("runAsUser") or 1) != 0, where
            assert sc.get("allowPrivilegeEscalation") is False, f"{where}:{c['name']}"
            assert sc.get("privileged", False) is False, f"{where}:{c['name']}"
            assert sc.get("readOnlyRootFilesystem") is True, f"{where}:{c['name']}"
            assert "ALL" in sc.get("capabilities", {}).get("drop", []), f"{where}:{c['name']}"


def test_pods_do_not_mount_api_tokens_they_do_not_use(docs: list[dict[str, Any]]) -> None:
    for _, where, spec in _workloads(docs):
        assert spec.get("automountServiceAccountToken") is False, where
        assert not spec.get("hostNetwork") and not spec.get("hostPID"), where
        assert not any("hostPath" in v for v in spec.get("volumes", [])), where


# --------------------------------------------------------------------- secrets


def test_no_plaintext_secrets_in_rendered_env(docs: list[dict[str, Any]]) -> None:
    for _, where, spec in _workloads(docs):
        for c in _containers(spec):
            for item in c.get("env", []):
                if SECRET_NAME.search(item["name"]):
                    assert "value" not in item, (
                        f"{where}:{c['name']} sets {item['name']} in plain text"
                    )
        for cm in by_kind(docs, "ConfigMap"):
            assert not any(SECRET_NAME.search(k) for k in cm.get("data", {})), cm["metadata"][
                "name"
            ]


def _values_files() -> list[Path]:
    return [
        CHART / "values.yaml",
        CI_VALUES,
        *sorted((REPO_ROOT / "k8s" / "values").glob("*.yaml")),
    ]


def _secret_like_literals(node: Any, path: str = "") -> list[str]:
    found = []
    if isinstance(node, dict):
        for key, value in node.items():
            here = f"{path}.{key}"
            if (
                isinstance(value, str | int)
                and SECRET_NAME.search(str(key))
                and not str(key).endswith(("Name", "Key", "SecretName", "Secret"))
            ):
                text = str(value)
                # Environment references ($VAR, expanded by Grafana at start) are fine;
                # keys naming a Secret (...Secret, ...SecretName, ...Key) are skipped above.
                if text and not text.startswith("$"):
                    found.append(f"{here}={text}")
            found += _secret_like_literals(value, here)
    elif isinstance(node, list):
        for i, value in enumerate(node):
            found += _secret_like_literals(value, f"{path}[{i}]")
    return found


@pytest.mark.parametrize("path", _values_files(), ids=lambda p: p.name)
def test_no_secret_values_in_values_files(path: Path) -> None:
    values = yaml.safe_load(path.read_text("utf-8")) or {}
    assert _secret_like_literals(values) == []
    # Airflow's default user password must not be written anywhere in values.
    assert "password" not in (values.get("createUserJob", {}).get("defaultUser", {}))


def test_secret_detector_catches_a_literal() -> None:
    assert _secret_like_literals({"a": {"password": "hunter2"}})
    assert not _secret_like_literals({"password": "$OLIST_PG_READER_PASSWORD"})


def test_generated_passwords_are_long_and_differ_per_role(
    default_docs: list[dict[str, Any]],
) -> None:
    passwords = {}
    for s in by_kind(default_docs, "Secret"):
        for key, value in s["data"].items():
            if key.endswith("_PASSWORD"):
                passwords.setdefault(key, set()).add(base64.b64decode(value).decode())
    assert len(passwords) == 4
    flat = [p for group in passwords.values() for p in group]
    assert all(len(p) >= 24 for p in flat)
    assert len(set(flat)) == len(passwords)


# ------------------------------------------------------------------ monitoring


def _matches(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    for key, value in selector.get("matchLabels", {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions", []):
        present = expr["key"] in labels
        op = expr["operator"]
        if (op == "Exists" and not present) or (op == "DoesNotExist" and present):
            return False
        if op == "In" and labels.get(expr["key"]) not in expr["values"]:
            return False
        if op == "NotIn" and labels.get(expr["key"]) in expr["values"]:
            return False
    return True


def _in_namespaces(monitor: dict[str, Any], namespace: str) -> bool:
    ns_sel = monitor["spec"].get("namespaceSelector", {})
    if ns_sel.get("any"):
        return True
    names = ns_sel.get("matchNames") or [monitor["metadata"]["namespace"]]
    return namespace in names


def test_every_service_monitor_selects_a_rendered_service_port_and_pods(
    docs: list[dict[str, Any]],
) -> None:
    services = by_kind(docs, "Service")
    workloads = [d for d in docs if d["kind"] in LONG_RUNNING]
    for sm in by_kind(docs, "ServiceMonitor"):
        selected = [
            s
            for s in services
            if _in_namespaces(sm, s["metadata"]["namespace"])
            and _matches(sm["spec"]["selector"], s["metadata"].get("labels", {}))
        ]
        assert selected, f"ServiceMonitor {sm['metadata']['name']} selects no Service"
        for endpoint in sm["spec"]["endpoints"]:
            for svc in selected:
                assert endpoint["port"] in {p["name"] for p in svc["spec"]["ports"]}, svc
        for svc in selected:
            backing = [
                w
                for w in workloads
                if all(
                    w["spec"]["template"]["metadata"]["labels"].get(k) == v
                    for k, v in svc["spec"]["selector"].items()
                )
            ]
            assert backing, f"Service {svc['metadata']['name']} selects no pods"
            ports = {
                p.get("name")
                for w in backing
                for c in w["spec"]["template"]["spec"]["containers"]
                for p in c.get("ports", [])
            }
            for port in svc["spec"]["ports"]:
                assert port["targetPort"] in ports
        # Alerts select on job="olist-consumers".
        job_label = sm["spec"].get("jobLabel")
        assert {s["metadata"]["labels"].get(job_label) for s in selected} == {"olist-consumers"}


def test_every_pod_monitor_selects_rendered_pods(docs: list[dict[str, Any]]) -> None:
    for pm in by_kind(docs, "PodMonitor"):
        pods = [
            (d["metadata"]["namespace"], d["spec"]["template"])
            for d in docs
            if d["kind"] in LONG_RUNNING | {"Job"}
        ]
        # A SparkApplication's driver pod: its labels plus the spark-role Spark sets.
        pods += [
            (
                d["metadata"]["namespace"],
                {
                    "metadata": {
                        "labels": {**d["spec"]["driver"]["labels"], "spark-role": "driver"}
                    },
                    "spec": {"containers": [{"ports": d["spec"]["driver"].get("ports", [])}]},
                },
            )
            for d in by_kind(docs, "SparkApplication")
        ]
        selected = [
            t
            for ns, t in pods
            if _in_namespaces(pm, ns) and _matches(pm["spec"]["selector"], t["metadata"]["labels"])
        ]
        assert selected, f"PodMonitor {pm['metadata']['name']} selects no pod"
        names = {
            p.get("name")
            for t in selected
            for c in t["spec"]["containers"]
            for p in c.get("ports", [])
        }
        for endpoint in pm["spec"]["podMetricsEndpoints"]:
            assert endpoint["port"] in names


def test_monitor_selector_helper() -> None:
    assert _matches({"matchLabels": {"a": "1"}}, {"a": "1", "b": "2"})
    assert not _matches({"matchLabels": {"a": "1"}}, {"a": "2"})
    assert not _matches({"matchExpressions": [{"key": "x", "operator": "Exists"}]}, {})


def test_network_policies_cover_every_chart_pod(docs: list[dict[str, Any]]) -> None:
    policies = by_kind(docs, "NetworkPolicy")
    for d in docs:
        if d["kind"] in LONG_RUNNING or (
            d["kind"] == "Job" and d["metadata"]["namespace"] == "olist"
        ):
            labels = d["spec"]["template"]["metadata"]["labels"]
            if d["metadata"]["labels"].get("app.kubernetes.io/component") == "producer":
                labels = {**labels, "app.kubernetes.io/instance": "olist"}
            assert any(
                p["metadata"]["namespace"] == d["metadata"]["namespace"]
                and _matches(p["spec"]["podSelector"], labels)
                for p in policies
            ), f"{d['kind']}/{d['metadata']['name']} has no NetworkPolicy"


def test_k8s_pod_monitors_use_the_opened_selectors() -> None:
    """The operators' PodMonitors in k8s/ carry the release label too (belt and braces)."""
    for pm in by_kind(k8s_manifests(), "PodMonitor"):
        assert pm["metadata"]["labels"]["release"] == "kube-prometheus-stack"
