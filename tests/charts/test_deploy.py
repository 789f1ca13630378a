"""The kind target's files beside the chart: pins, kind-config, images, upstream values,
the deploy script and the e2e workflow. All offline."""

from __future__ import annotations

import os
import re
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.charts.conftest import REPO_ROOT, load_yaml
from tests.k8s_validate import pinned_versions

V = pinned_versions()
VALUES_DIR = REPO_ROOT / "k8s" / "values"
PYPROJECT = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text("utf-8"))


def _pin(requirement_prefix: str) -> str:
    reqs = PYPROJECT["project"]["dependencies"] + [
        r for group in PYPROJECT["project"]["optional-dependencies"].values() for r in group
    ]
    (req,) = [r for r in reqs if r.startswith(requirement_prefix + "==")]
    return req.split("==", 1)[1]


# ------------------------------------------------------------------------ pins


def test_versions_file_pins_everything_exactly() -> None:
    for key in [
        "KIND_VERSION",
        "KUBERNETES_VERSION",
        "KIND_NODE_IMAGE",
        "HELM_VERSION",
        "STRIMZI_CHART_VERSION",
        "CNPG_CHART_VERSION",
        "AIRFLOW_CHART_VERSION",
        "SPARK_OPERATOR_CHART_VERSION",
        "KUBE_PROMETHEUS_STACK_CHART_VERSION",
        "PUSHGATEWAY_CHART_VERSION",
        "PYTHON_BASE_IMAGE",
        "AIRFLOW_BASE_IMAGE",
    ]:
        assert re.search(r"\d", V[key]), key
        assert "latest" not in V[key] and "*" not in V[key] and "x" not in V[key].split(":")[-1]
    assert re.fullmatch(r"kindest/node:v[\d.]+@sha256:[0-9a-f]{64}", V["KIND_NODE_IMAGE"])
    assert V["KIND_NODE_IMAGE"].startswith(f"kindest/node:v{V['KUBERNETES_VERSION']}@")


def test_versions_agree_with_the_rest_of_the_project() -> None:
    assert V["AIRFLOW_VERSION"] == _pin("apache-airflow")
    assert V["AIRFLOW_BASE_IMAGE"] == f"apache/airflow:{V['AIRFLOW_VERSION']}-python3.11"
    assert "SPARK_VERSION" not in V  # pyproject's pyspark pin alone
    assert load_yaml(VALUES_DIR / "airflow.yaml")["airflowVersion"] == V["AIRFLOW_VERSION"]
    # The JDBC driver's version lives in the local pom alone (tests/unit/test_pins.py).
    assert "POSTGRES_JDBC_VERSION" not in V
    for template in sorted((REPO_ROOT / "spark-apps" / "k8s").glob("*.yaml")):
        assert yaml.safe_load(template.read_text("utf-8"))["spec"]["sparkVersion"] == _pin(
            "pyspark"
        )


def test_kind_config_pins_the_node_and_maps_the_uis_to_loopback() -> None:
    cfg = load_yaml(REPO_ROOT / "kind-config.yaml")
    assert cfg["name"] == V["KIND_CLUSTER_NAME"]
    mappings: dict[int, int] = {}
    for node in cfg["nodes"]:
        assert node["image"] == V["KIND_NODE_IMAGE"]
        for m in node.get("extraPortMappings", []):
            assert m["listenAddress"] == "127.0.0.1"
            mappings[m["hostPort"]] = m["containerPort"]
    airflow = load_yaml(VALUES_DIR / "airflow.yaml")
    kps = load_yaml(VALUES_DIR / "kube-prometheus-stack.yaml")
    assert mappings[8080] == airflow["apiServer"]["service"]["ports"][0]["nodePort"]
    assert mappings[3000] == kps["grafana"]["service"]["nodePort"]
    assert mappings[9090] == kps["prometheus"]["service"]["nodePort"]


# ---------------------------------------------------------------------- images


def _dockerfile(name: str) -> str:
    return (REPO_ROOT / "images" / f"{name}.Dockerfile").read_text("utf-8")


@pytest.mark.parametrize("name", ["pipeline", "airflow"])
def test_dockerfiles_pin_their_bases_and_drop_root(name: str) -> None:
    text = _dockerfile(name)
    args = dict(re.findall(r"^ARG (\w+)=(\S+)$", text, re.M))
    for line in re.findall(r"^FROM (\S+)", text, re.M):
        image = args.get(line.strip("${}"), line) if line.startswith("$") else line
        assert ":" in image and not image.endswith(":latest"), image
    for key in ("PYTHON_BASE_IMAGE", "AIRFLOW_BASE_IMAGE"):
        if key in args:
            assert args[key] == V[key], key
    if name == "pipeline":
        users = re.findall(r"^USER (\S+)", text, re.M)
        assert users and users[-1].split(":")[0] not in {"0", "root"}


def test_pipeline_image_installs_dependencies_before_the_source() -> None:
    text = _dockerfile("pipeline")
    assert text.index("pip install -r") < text.index("COPY src")
    # The JDBC driver is on Spark's classpath, never fetched at job time.
    assert "${SPARK_HOME}/jars/postgresql.jar" in text
    # The paths the DAGs and SparkApplication templates use.
    from olist_pipeline.airflow import k8s

    assert "OLIST_PROJECT_ROOT=/opt/olist" in text and k8s.SPARK_APPS_DIR == "/opt/olist/spark-apps"
    assert re.search(r"useradd .*--uid 10001", text) and k8s.RUN_AS_USER == 10001


def test_airflow_image_bakes_dags_and_templates() -> None:
    text = _dockerfile("airflow")
    assert "COPY --chown=airflow:root airflow/dags /opt/airflow/dags" in text
    assert "OLIST_SPARK_TEMPLATES_DIR=/opt/olist/spark-apps/k8s" in text


def test_entrypoint_dispatches_spark_and_olist() -> None:
    text = (REPO_ROOT / "images" / "pipeline-entrypoint.sh").read_text("utf-8")
    for case in ("driver)", "executor)", "olist)"):
        assert case in text
    assert "KubernetesExecutorBackend" in text


# -------------------------------------------------------------- upstream values


def test_airflow_values_use_airflow_3_keys_and_no_bitnami() -> None:
    values = load_yaml(VALUES_DIR / "airflow.yaml")
    assert values["executor"] == "KubernetesExecutor"
    assert values["postgresql"]["enabled"] is False
    assert values["data"]["metadataSecretName"]
    for key in ("jwtSecretName", "apiSecretKeySecretName", "fernetKeySecretName"):
        assert values[key]
    assert "apiServer" in values and "defaultUser" in values["createUserJob"]
    # Airflow 2 locations (silently ignored by the chart) and the community chart's keys.
    for stale in (
        "webserver",
        "webserverSecretKey",
        "webserverSecretKeySecretName",
        "extraPipPackages",
    ):
        assert stale not in values, stale
    for path in VALUES_DIR.glob("*.yaml"):
        # In the values themselves (the comments explain why it is avoided).
        assert "bitnami" not in yaml.safe_dump(load_yaml(path)).lower(), path.name
    assert values["images"]["airflow"]["pullPolicy"] == "IfNotPresent"


def test_prometheus_selects_every_monitor_and_grafana_has_fixed_datasources() -> None:
    kps = load_yaml(VALUES_DIR / "kube-prometheus-stack.yaml")
    spec = kps["prometheus"]["prometheusSpec"]
    for key in (
        "serviceMonitorSelectorNilUsesHelmValues",
        "podMonitorSelectorNilUsesHelmValues",
        "ruleSelectorNilUsesHelmValues",
        "probeSelectorNilUsesHelmValues",
    ):
        assert spec[key] is False, key
    dashboards = kps["grafana"]["sidecar"]["dashboards"]
    chart = load_yaml(REPO_ROOT / "charts" / "olist-platform" / "values.yaml")["monitoring"]
    assert dashboards["label"] == chart["dashboards"]["label"]
    assert dashboards["labelValue"] == "1" and dashboards["searchNamespace"] == "ALL"
    assert kps["grafana"]["sidecar"]["datasources"]["uid"] == "prometheus"
    (pg,) = kps["grafana"]["additionalDataSources"]
    assert pg["uid"] == "olist-warehouse" and pg["type"] == "grafana-postgresql-datasource"
    assert pg["jsonData"]["database"] == "olist"
    refs = {v["secretKeyRef"]["name"] for v in kps["grafana"]["envValueFrom"].values()}
    assert refs == {"olist-db-reader"}
    assert kps["grafana"]["admin"]["existingSecret"]


def test_operators_watch_the_namespaces_our_resources_live_in() -> None:
    namespaces = {
        d["metadata"]["name"]
        for d in yaml.safe_load_all((REPO_ROOT / "k8s" / "namespaces.yaml").read_text("utf-8"))
    }
    strimzi = load_yaml(VALUES_DIR / "strimzi.yaml")
    chart = load_yaml(REPO_ROOT / "charts" / "olist-platform" / "values.yaml")
    assert strimzi["watchNamespaces"] == [chart["kafka"]["namespace"]]
    spark = load_yaml(VALUES_DIR / "spark-operator.yaml")
    assert set(spark["spark"]["jobNamespaces"]) <= set(chart["rbac"]["jobNamespaces"])
    assert spark["webhook"]["enable"] is True
    for ns in [
        *chart["rbac"]["jobNamespaces"],
        *chart["readerSecretNamespaces"],
        "olist",
        "airflow",
        "kafka",
    ]:
        assert ns in namespaces, ns


def test_chart_endpoints_match_the_cluster_resources() -> None:
    chart = load_yaml(REPO_ROOT / "charts" / "olist-platform" / "values.yaml")
    docs = [
        d
        for p in (REPO_ROOT / "k8s").rglob("*.yaml")
        if "values" not in p.parts
        for d in yaml.safe_load_all(p.read_text("utf-8"))
        if d
    ]
    (kafka,) = [d for d in docs if d["kind"] == "Kafka"]
    listener = kafka["spec"]["kafka"]["listeners"][0]
    assert chart["kafka"]["bootstrap"] == (
        f"{kafka['metadata']['name']}-kafka-bootstrap.{kafka['metadata']['namespace']}.svc:{listener['port']}"
    )
    assert kafka["spec"]["kafka"]["config"]["auto.create.topics.enable"] is False
    (pg,) = [d for d in docs if d["kind"] == "Cluster" and d["metadata"]["name"] == "olist-pg"]
    assert chart["database"]["host"] == f"olist-pg-rw.{pg['metadata']['namespace']}.svc"
    assert chart["database"]["name"] == pg["spec"]["bootstrap"]["initdb"]["database"]
    # The migration Job reads CloudNativePG's superuser Secret, which needs this switch.
    assert pg["spec"]["enableSuperuserAccess"] is True
    assert chart["database"]["adminSecret"] == "olist-pg-superuser"


# -------------------------------------------------------------- deploy script


def _script(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "k8s/platform.sh", *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
        check=False,
    )


def test_shell_scripts_pass_shellcheck() -> None:
    shellcheck = Path(os.environ.get("VIRTUAL_ENV", REPO_ROOT / ".venv")) / "bin" / "shellcheck"
    if not shellcheck.exists():
        shellcheck = REPO_ROOT / ".venv" / "bin" / "shellcheck"
    proc = subprocess.run(
        [str(shellcheck), "-x", "k8s/platform.sh", "images/pipeline-entrypoint.sh"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout


def test_status_prints_every_pinned_version() -> None:
    proc = _script("status", env={"PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stderr
    for key, value in V.items():
        assert f"{key}={value}" in proc.stdout
    # "not running" here; "running" plus what is deployed where a cluster exists.
    assert "kind cluster olist: " in proc.stdout


def test_deploy_fails_clearly_without_the_tools(tmp_path: Path) -> None:
    # A PATH with bash and coreutils but no docker, kind, kubectl or helm.
    bindir = tmp_path / "bin"
    bindir.mkdir()
    for tool in ("bash", "env", "dirname", "cat", "grep", "sed", "head", "printf"):
        for d in ("/usr/bin", "/bin"):
            if (Path(d) / tool).exists():
                (bindir / tool).symlink_to(Path(d) / tool)
                break
    proc = _script("deploy", env={"PATH": str(bindir), "HELM": str(tmp_path / "no-helm")})
    assert proc.returncode == 2
    for tool in ("docker", "kind", "kubectl", "helm"):
        assert f"- {tool}" in proc.stderr, proc.stderr


def test_makefile_wires_the_targets() -> None:
    make = (REPO_ROOT / "Makefile").read_text("utf-8")
    assert "include k8s/versions.env" in make
    assert re.search(r"^setup:.*\bhelm\b", make, re.M)
    for target in ("deploy", "undeploy", "status", "urls", "helm"):
        assert re.search(rf"^{target}:", make, re.M), target


# ------------------------------------------------------------------ e2e workflow


def test_kind_e2e_workflow_is_a_valid_github_workflow() -> None:
    workflow = REPO_ROOT / ".github" / "workflows" / "kind-e2e.yml"
    checker = REPO_ROOT / ".venv" / "bin" / "check-jsonschema"
    proc = subprocess.run(
        [str(checker), "--builtin-schema", "vendor.github-workflows", str(workflow)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    steps: list[dict[str, Any]] = load_yaml(workflow)["jobs"]["kind-e2e"]["steps"]
    runs = "\n".join(s.get("run", "") for s in steps)
    for needle in ("make deploy", "e2e_check.py", "--dag olist_batch", "make undeploy"):
        assert needle in runs
    uses = [s["uses"] for s in steps if "uses" in s]
    assert all(re.search(r"@v\d+$|@[0-9a-f]{40}$", u) for u in uses), uses


def test_e2e_check_parses_its_arguments() -> None:
    import runpy

    module = runpy.run_path(str(REPO_ROOT / "k8s" / "e2e_check.py"))
    with pytest.raises(SystemExit):
        module["main"]([])  # --airflow-password is required


@pytest.mark.parametrize("argv", [["--version"], ["olist", "--version"]], ids=["bare", "olist"])
def test_entrypoint_runs_olist_for_anything_but_spark(argv: list[str]) -> None:
    env = {**os.environ, "PATH": f"{REPO_ROOT / '.venv' / 'bin'}{os.pathsep}{os.environ['PATH']}"}
    proc = subprocess.run(
        ["bash", "images/pipeline-entrypoint.sh", *argv],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "olist-pipeline" in proc.stdout


def test_default_image_tags_are_the_package_version() -> None:
    """Without make deploy's git-sha tag, everything points at the version-tagged images."""
    version = PYPROJECT["project"]["version"]
    chart = load_yaml(REPO_ROOT / "charts" / "olist-platform" / "Chart.yaml")
    values = load_yaml(REPO_ROOT / "charts" / "olist-platform" / "values.yaml")
    airflow = load_yaml(VALUES_DIR / "airflow.yaml")
    assert chart["appVersion"] == version
    assert values["image"]["tag"] == version
    assert airflow["images"]["airflow"]["tag"] == version
    from olist_pipeline.airflow import k8s

    assert f"{values['image']['repository']}:{version}" == k8s.IMAGE
