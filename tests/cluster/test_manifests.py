"""Every object we ship, accepted by the API server with strict server-side field validation."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.charts.conftest import CI_VALUES, k8s_manifest_files, run_helm, template_args
from tests.cluster.conftest import Kube
from tests.k8s_validate import REPO_ROOT, spark_pin


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


SPARK_APPS = sorted((REPO_ROOT / "spark-apps" / "k8s").glob("*.yaml"))


@pytest.mark.parametrize("path", SPARK_APPS, ids=[p.stem for p in SPARK_APPS])
def test_spark_application_templates_pass_strict_server_validation(
    namespaces: Kube, path: Path
) -> None:
    """The SparkApplications SparkKubernetesOperator submits, against the Spark Operator's
    CRD as served by the API server (the Jinja in them sits in string values)."""
    out = namespaces.kubectl(
        "apply", "--server-side", "--dry-run=server", "--validate=strict",
        "--field-manager=olist-tests", "-f", str(path),
        check=False,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "sparkapplication.sparkoperator.k8s.io" in out.stdout


@pytest.mark.parametrize("path", SPARK_APPS, ids=[p.stem for p in SPARK_APPS])
def test_spark_applications_leave_nothing_to_the_operators_own_spark(path: Path) -> None:
    """The operator's controller submits with its image's Spark (4.0.4 in operator 2.5.2)
    while the driver and executors run ours (4.2.0): safe only while the submission side
    has nothing version-specific to interpret, i.e. no spark.kubernetes.* settings."""
    import yaml

    app = yaml.safe_load(path.read_text("utf-8"))
    assert app["spec"]["sparkVersion"] == spark_pin()
    submission_side = [
        k for k in app["spec"].get("sparkConf", {}) if k.startswith("spark.kubernetes.")
    ]
    assert submission_side == []
