"""Every object we ship, accepted by the API server with strict server-side field validation."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.charts.conftest import CI_VALUES, k8s_manifest_files, run_helm, template_args
from tests.cluster.conftest import Kube
from tests.k8s_validate import REPO_ROOT


def test_k8s_manifests_apply_strictly(namespaces: Kube) -> None:
    """k8s/namespaces.yaml and the Kafka, PostgreSQL and PodMonitor resources, applied by
    platform.sh's own steps (--validate=strict), then every file's objects are on the server."""
    namespaces.platform("apply-resources")
    files = k8s_manifest_files()
    assert files, "no manifests under k8s/"
    for path in files:
        out = namespaces.kubectl("get", "-f", str(path), "-o", "name")
        assert out.stdout.strip(), f"{path.relative_to(REPO_ROOT)}: nothing on the server"


@pytest.mark.parametrize("values", [None, CI_VALUES], ids=["default", "ci"])
def test_chart_rendering_passes_strict_server_validation(
    namespaces: Kube, values: Path | None
) -> None:
    """Every object of a rendering (hooks included) through the API server's decoding,
    defaulting, admission and strict validation (server dry run: nothing is stored, so the
    release test below installs onto a clean namespace)."""
    rendered = run_helm(*template_args(*([values] if values else []))).stdout
    assert "kind: Deployment" in rendered
    out = namespaces.kubectl(
        "apply", "--server-side", "--dry-run=server", "--validate=strict",
        "--field-manager=olist-tests", "-f", "-",
        stdin=rendered, check=False,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    applied = [line for line in out.stdout.splitlines() if "(server dry run)" in line]
    assert len(applied) == rendered.count("\nkind: ") + rendered.startswith("kind: ")
