"""Offline chart tests: a real `helm` renders charts/olist-platform, nothing needs a cluster.

helm comes from HELM, else the project's `.local/bin/helm` (built by `make helm`, part of
`make setup`), else PATH. Without it every chart test fails with the fix, never skips: CI
must not go green without having rendered the chart.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.k8s_validate import REPO_ROOT, pinned_versions

CHART = REPO_ROOT / "charts" / "olist-platform"
CI_VALUES = CHART / "ci" / "ci-values.yaml"
RELEASE = "olist"
NAMESPACE = "olist"


def helm_binary() -> str:
    candidates = [os.environ.get("HELM"), str(REPO_ROOT / ".local" / "bin" / "helm")]
    for candidate in candidates:
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    found = shutil.which("helm")
    if found:
        return found
    pytest.fail(
        "helm is not installed: run `make helm` (part of `make setup`; it builds "
        f"helm {pinned_versions()['HELM_VERSION']} with `go install`) or set HELM=/path/to/helm",
        pytrace=False,
    )


def run_helm(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [helm_binary(), *args],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO_ROOT,
    )
    if check and proc.returncode != 0:
        pytest.fail(f"helm {' '.join(args)} failed:\n{_without_symlink_notes(proc.stderr)}")
    return proc


def _without_symlink_notes(stderr: str) -> str:
    # helm notes every followed symlink (files/ links to monitoring/ and topics.yaml).
    return "\n".join(line for line in stderr.splitlines() if "found symbolic link" not in line)


def template_args(*values_files: Path, sets: dict[str, str] | None = None) -> list[str]:
    args = [
        "template",
        RELEASE,
        str(CHART),
        "--namespace",
        NAMESPACE,
        "--kube-version",
        pinned_versions()["KUBERNETES_VERSION"],
    ]
    for f in values_files:
        args += ["--values", str(f)]
    for key, value in (sets or {}).items():
        args += ["--set-string", f"{key}={value}"]
    return args


def render(*values_files: Path, sets: dict[str, str] | None = None) -> list[dict[str, Any]]:
    out = run_helm(*template_args(*values_files, sets=sets)).stdout
    return [d for d in yaml.safe_load_all(out) if d]


@pytest.fixture(scope="session")
def default_docs() -> list[dict[str, Any]]:
    return render()


@pytest.fixture(scope="session")
def ci_docs() -> list[dict[str, Any]]:
    return render(CI_VALUES)


@pytest.fixture(scope="session", params=["default", "ci"])
def docs(request: pytest.FixtureRequest) -> list[dict[str, Any]]:
    fixture = "default_docs" if request.param == "default" else "ci_docs"
    value: list[dict[str, Any]] = request.getfixturevalue(fixture)
    return value


def k8s_manifest_files() -> list[Path]:
    """Every Kubernetes manifest under k8s/ (values/ holds Helm values, not manifests)."""
    return sorted(
        p
        for p in (REPO_ROOT / "k8s").rglob("*.yaml")
        if "values" not in p.relative_to(REPO_ROOT).parts
    )


def k8s_manifests() -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = []
    for path in k8s_manifest_files():
        docs += [d for d in yaml.safe_load_all(path.read_text("utf-8")) if d]
    return docs


def pod_specs(doc: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(where, pod spec) of a workload object."""
    kind = doc.get("kind")
    name = f"{kind}/{doc.get('metadata', {}).get('name')}"
    spec = doc.get("spec") or {}
    if kind in {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"}:
        yield name, spec["template"]["spec"]
    elif kind == "CronJob":
        yield name, spec["jobTemplate"]["spec"]["template"]["spec"]
    elif kind == "Pod":
        yield name, spec


def by_kind(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [d for d in docs if d.get("kind") == kind]


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text("utf-8"))
