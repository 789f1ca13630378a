"""charts/olist-platform renders, lints, validates, and carries what the other areas rely on."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from olist_pipeline.config import Role, Target, load_settings
from tests.charts.conftest import (
    CHART,
    CI_VALUES,
    NAMESPACE,
    REPO_ROOT,
    by_kind,
    load_yaml,
    pod_specs,
    render,
    run_helm,
    template_args,
)
from tests.k8s_validate import validate_manifest

VALUES = load_yaml(CHART / "values.yaml")
ROLES = ["loader", "transformer", "quality", "stream", "reader"]


@pytest.mark.parametrize("values", [None, CI_VALUES], ids=["default", "ci"])
def test_helm_lint_passes(values: Path | None) -> None:
    args = ["lint", str(CHART), "--strict"] + (["--values", str(values)] if values else [])
    proc = run_helm(*args, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_every_rendered_object_validates_strictly(docs: list[dict[str, Any]]) -> None:
    errors = [e for d in docs for e in validate_manifest(d, strict=True)]
    assert errors == []


def test_ci_values_render_every_optional_component(ci_docs: list[dict[str, Any]]) -> None:
    kinds = {d["kind"] for d in ci_docs}
    for kind in ["Deployment", "Job", "KafkaTopic", "ServiceMonitor", "PrometheusRule", "Role"]:
        assert kind in kinds, kind
    assert any(
        d["metadata"]["labels"].get("app.kubernetes.io/component") == "producer"
        for d in by_kind(ci_docs, "Job")
    )


def test_every_object_carries_the_standard_labels(docs: list[dict[str, Any]]) -> None:
    for d in docs:
        labels = d["metadata"].get("labels", {})
        for key in [
            "app.kubernetes.io/name",
            "app.kubernetes.io/instance",
            "app.kubernetes.io/version",
            "app.kubernetes.io/managed-by",
        ]:
            assert key in labels, f"{d['kind']}/{d['metadata']['name']} lacks {key}"
        if d["kind"] not in {"ServiceMonitor", "PrometheusRule"}:
            assert "app.kubernetes.io/component" in labels, d["metadata"]["name"]


# ---------------------------------------------------------------- values schema


@pytest.mark.parametrize(
    ("sets", "needle"),
    [
        ({"bogus": "1"}, "bogus"),
        ({"consumer.bogus": "1"}, "bogus"),
        ({"database.logins.admin": "x"}, "admin"),
        ({"image.tag": "latest"}, "tag"),
        ({"environment": "local"}, "environment"),
    ],
    ids=["top-level", "nested", "unknown-role", "latest-tag", "local-env"],
)
def test_values_schema_rejects(sets: dict[str, str], needle: str) -> None:
    proc = run_helm(*template_args(sets=sets), check=False)
    assert proc.returncode != 0
    assert needle in proc.stderr


def test_values_schema_is_closed_everywhere() -> None:
    schema = json.loads((CHART / "values.schema.json").read_text("utf-8"))
    open_objects: list[str] = []

    def walk(node: Any, path: str) -> None:
        if isinstance(node, dict):
            # Security contexts pass Kubernetes types through (validated as such).
            if (
                node.get("type") == "object"
                and "properties" in node
                and node.get("additionalProperties") is not False
                and "SecurityContext" not in path
            ):
                open_objects.append(path)
            for key, value in node.get("properties", {}).items():
                walk(value, f"{path}.{key}")
            walk(node.get("items"), f"{path}[]")

    walk(schema, "")
    assert open_objects == []


def test_every_value_is_documented_with_a_helm_docs_comment() -> None:
    """Each leaf key of values.yaml has a `# --` comment above it or above its parent."""
    lines = (CHART / "values.yaml").read_text("utf-8").splitlines()
    undocumented = []
    documented_parents: set[int] = set()
    for i, line in enumerate(lines):
        stripped = line.strip()
        if (
            not stripped
            or stripped.startswith("#")
            or stripped.startswith("-")
            or ":" not in stripped
        ):
            continue
        indent = len(line) - len(line.lstrip())
        j = i - 1
        while (
            j >= 0 and lines[j].strip().startswith("#") and not lines[j].strip().startswith("# --")
        ):
            j -= 1
        has_doc = j >= 0 and lines[j].strip().startswith("# --")
        if has_doc:
            documented_parents.add(indent)
        is_parent = stripped.endswith(":")
        if not has_doc and not is_parent and not any(p < indent for p in documented_parents):
            undocumented.append(stripped)
        if indent == 0:
            documented_parents = {indent} if has_doc else set()
    assert undocumented == []


# ------------------------------------------------------------------- consumers


def test_one_consumer_deployment_per_stream_runs_the_real_cli(
    default_docs: list[dict[str, Any]],
) -> None:
    from olist_pipeline.cli import build_parser

    deployments = by_kind(default_docs, "Deployment")
    streams = sorted(d["metadata"]["labels"]["olist.io/stream"] for d in deployments)
    assert streams == sorted(VALUES["consumer"]["streams"])
    parser = build_parser()
    for d in deployments:
        container = d["spec"]["template"]["spec"]["containers"][0]
        parsed = parser.parse_args(container["args"])
        assert parsed.stream == d["metadata"]["labels"]["olist.io/stream"]
        assert parsed.metrics_port == VALUES["consumer"]["metricsPort"]
        # Reachable from probes and Prometheus, not only from inside the pod.
        assert parsed.metrics_host == "0.0.0.0"
        assert parsed.instance_id is None
        assert container["startupProbe"]["httpGet"]["path"] == "/healthz"
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"


def test_consumers_have_graceful_termination_and_a_pdb(default_docs: list[dict[str, Any]]) -> None:
    pdbs = by_kind(default_docs, "PodDisruptionBudget")
    for d in by_kind(default_docs, "Deployment"):
        spec = d["spec"]["template"]["spec"]
        assert spec["terminationGracePeriodSeconds"] >= 30
        labels = d["spec"]["template"]["metadata"]["labels"]
        assert any(
            all(labels.get(k) == v for k, v in p["spec"]["selector"]["matchLabels"].items())
            for p in pdbs
        ), d["metadata"]["name"]


def test_migration_is_a_post_install_hook_running_db_migrate(
    default_docs: list[dict[str, Any]],
) -> None:
    from olist_pipeline.cli import build_parser

    (job,) = [
        d
        for d in by_kind(default_docs, "Job")
        if d["metadata"]["labels"]["app.kubernetes.io/component"] == "migrate"
    ]
    hooks = job["metadata"]["annotations"]["helm.sh/hook"].split(",")
    assert hooks == ["post-install", "post-upgrade"]
    container = job["spec"]["template"]["spec"]["containers"][0]
    args = build_parser().parse_args(container["args"])
    assert (args.command, args.db_command) == ("db", "migrate")


# ------------------------------------------------------- settings and secrets


def _env_of(
    container: dict[str, Any], docs: list[dict[str, Any]], namespace: str
) -> dict[str, str]:
    """The environment a container gets from env values and envFrom sources."""
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        if "configMapRef" in source:
            (cm,) = [
                d
                for d in by_kind(docs, "ConfigMap")
                if d["metadata"]["name"] == source["configMapRef"]["name"]
                and d["metadata"]["namespace"] == namespace
            ]
            env.update(cm["data"])
        if "secretRef" in source:
            (secret,) = [
                d
                for d in by_kind(docs, "Secret")
                if d["metadata"]["name"] == source["secretRef"]["name"]
                and d["metadata"]["namespace"] == namespace
            ]
            env.update({k: base64.b64decode(v).decode() for k, v in secret["data"].items()})
    for item in container.get("env", []):
        if "value" in item:
            env[item["name"]] = item["value"]
        elif "secretKeyRef" in item.get("valueFrom", {}):
            env[item["name"]] = "from-operator-secret"
    return env


def test_pipeline_containers_get_complete_kind_settings(docs: list[dict[str, Any]]) -> None:
    """load_settings() under OLIST_ENV=kind (no fallbacks) works with what each pod gets."""
    for d in docs:
        for where, spec in pod_specs(d):
            for container in spec.get("initContainers", []) + spec["containers"]:
                env = _env_of(container, docs, d["metadata"]["namespace"])
                settings = load_settings(env)
                assert settings.target is Target.KIND, where
                assert settings.postgres.host == VALUES["database"]["host"], where
                assert settings.kafka.bootstrap_servers == VALUES["kafka"]["bootstrap"], where


def test_consumers_hold_only_the_stream_login(default_docs: list[dict[str, Any]]) -> None:
    for d in by_kind(default_docs, "Deployment"):
        container = d["spec"]["template"]["spec"]["containers"][0]
        settings = load_settings(_env_of(container, default_docs, NAMESPACE))
        assert settings.postgres.creds(Role.STREAM).user == VALUES["database"]["logins"]["stream"]
        held = {r for r in Role if settings.postgres.credentials.get(r) is not None}
        assert held == {Role.STREAM}


def test_login_secrets_exist_in_every_namespace_that_needs_them(
    default_docs: list[dict[str, Any]],
) -> None:
    secrets = {
        (d["metadata"]["namespace"], d["metadata"]["name"]): d
        for d in by_kind(default_docs, "Secret")
    }
    job_namespaces = VALUES["rbac"]["jobNamespaces"]
    for role in ROLES:
        name = f"olist-db-{role}"
        namespaces = [NAMESPACE, *job_namespaces]
        if role == "reader":
            namespaces += VALUES["readerSecretNamespaces"]
        passwords = set()
        for ns in namespaces:
            data = secrets[(ns, name)]["data"]
            passwords.add(data[f"OLIST_PG_{role.upper()}_PASSWORD"])
            assert (
                base64.b64decode(data[f"OLIST_PG_{role.upper()}_USER"]).decode()
                == (VALUES["database"]["logins"][role])
            )
        # One generated password per role, the same in every copy.
        assert len(passwords) == 1
    # The admin login never leaves the CloudNativePG Secret.
    assert not [k for k in secrets if "admin" in k[1] or "superuser" in k[1]]


def test_cluster_names_match_what_the_dags_and_spark_templates_use(
    default_docs: list[dict[str, Any]],
) -> None:
    from olist_pipeline.airflow import k8s

    names = {(d["kind"], d["metadata"]["namespace"], d["metadata"]["name"]) for d in default_docs}
    for ns in (k8s.JOBS_NAMESPACE, k8s.SPARK_NAMESPACE):
        assert ns in VALUES["rbac"]["jobNamespaces"]
        assert ("ConfigMap", ns, k8s.ENV_CONFIGMAP) in names
        for role in Role:
            if role is not Role.ADMIN:
                assert ("Secret", ns, k8s.role_secret(role)) in names
    assert ("ServiceAccount", k8s.JOBS_NAMESPACE, k8s.JOBS_SERVICE_ACCOUNT) in names
    assert ("PersistentVolumeClaim", k8s.JOBS_NAMESPACE, k8s.SOURCE_DATA_CLAIM) in names
    assert k8s.RELEASE == "olist"
    assert VALUES["podSecurityContext"]["runAsUser"] == k8s.RUN_AS_USER
    spark_values = load_yaml(REPO_ROOT / "k8s" / "values" / "spark-operator.yaml")
    assert spark_values["spark"]["serviceAccount"]["name"] == k8s.SPARK_SERVICE_ACCOUNT
    assert spark_values["spark"]["jobNamespaces"] == [k8s.SPARK_NAMESPACE]


def test_source_data_job_generates_where_ingestion_reads(
    default_docs: list[dict[str, Any]],
) -> None:
    from olist_pipeline.airflow import k8s

    (job,) = [
        d
        for d in by_kind(default_docs, "Job")
        if d["metadata"]["labels"]["app.kubernetes.io/component"] == "source-data"
    ]
    container = job["spec"]["template"]["spec"]["containers"][0]
    args = container["args"]
    assert args[:2] == ["data", "generate"]
    assert args[args.index("--out") + 1] == k8s.SOURCE_DATA_PATH
    assert {"name": "source-data", "mountPath": k8s.SOURCE_DATA_PATH} in container["volumeMounts"]


# ---------------------------------------------------------------------- RBAC


def test_airflow_can_launch_and_watch_jobs_in_every_job_namespace(
    default_docs: list[dict[str, Any]],
) -> None:
    needed = {
        ("", "pods", "create"),
        ("", "pods", "get"),
        ("", "pods", "list"),
        ("", "pods", "watch"),
        ("", "pods", "delete"),
        ("", "pods/log", "get"),
        ("", "events", "list"),
        ("sparkoperator.k8s.io", "sparkapplications", "create"),
        ("sparkoperator.k8s.io", "sparkapplications", "get"),
        ("sparkoperator.k8s.io", "sparkapplications", "watch"),
        ("sparkoperator.k8s.io", "sparkapplications", "delete"),
    }
    roles = by_kind(default_docs, "Role")
    bindings = by_kind(default_docs, "RoleBinding")
    for ns in VALUES["rbac"]["jobNamespaces"]:
        (role,) = [r for r in roles if r["metadata"]["namespace"] == ns]
        granted = {
            (g, res, verb)
            for rule in role["rules"]
            for g in rule["apiGroups"]
            for res in rule["resources"]
            for verb in rule["verbs"]
        }
        assert needed <= granted, needed - granted
        assert not any(
            "*" in rule["verbs"] or "secrets" in rule["resources"] for rule in role["rules"]
        )
        (binding,) = [b for b in bindings if b["metadata"]["namespace"] == ns]
        assert binding["roleRef"]["name"] == role["metadata"]["name"]
        subjects = {(s["namespace"], s["name"]) for s in binding["subjects"]}
        assert ("airflow", "airflow-worker") in subjects


# ------------------------------------------------------------------ Kafka topics


def _declared_topics() -> list[dict[str, Any]]:
    decl = load_yaml(REPO_ROOT / "src" / "olist_pipeline" / "stream" / "topics.yaml")
    out = []
    for spec in decl["streams"].values():
        out += [spec["topic"], spec["dlq"]]
    return out


def test_kafka_topics_are_rendered_from_the_stream_declaration(
    default_docs: list[dict[str, Any]],
) -> None:
    assert (CHART / "files" / "topics.yaml").resolve() == (
        REPO_ROOT / "src" / "olist_pipeline" / "stream" / "topics.yaml"
    )
    rendered = {d["spec"]["topicName"]: d for d in by_kind(default_docs, "KafkaTopic")}
    declared = _declared_topics()
    assert sorted(rendered) == sorted(t["name"] for t in declared)
    for topic in declared:
        doc = rendered[topic["name"]]
        assert doc["metadata"]["namespace"] == VALUES["kafka"]["namespace"]
        assert doc["metadata"]["labels"]["strimzi.io/cluster"] == VALUES["kafka"]["clusterName"]
        assert doc["spec"]["partitions"] == topic["partitions"]
        # kind has one broker: replicas and min ISR are clamped to it, the rest is as declared.
        assert doc["spec"]["replicas"] == min(topic["replicas"], VALUES["kafka"]["maxReplicas"])
        config = dict(doc["spec"]["config"])
        expected = {k: str(v) for k, v in topic.get("config", {}).items()}
        if "min.insync.replicas" in expected:
            assert int(config.pop("min.insync.replicas")) <= doc["spec"]["replicas"]
            expected.pop("min.insync.replicas")
        assert {k: str(v) for k, v in config.items()} == expected


# ------------------------------------------------------------ monitoring files


def test_prometheus_rules_ship_the_monitoring_rule_files_unchanged(
    default_docs: list[dict[str, Any]],
) -> None:
    files = sorted((REPO_ROOT / "monitoring" / "rules").glob("*.yaml"))
    rules = {
        d["metadata"]["annotations"]["olist.io/source"]: d
        for d in by_kind(default_docs, "PrometheusRule")
    }
    assert sorted(rules) == [f"monitoring/rules/{f.name}" for f in files]
    for f in files:
        assert rules[f"monitoring/rules/{f.name}"]["spec"]["groups"] == load_yaml(f)["groups"]


def test_dashboards_ship_byte_for_byte_to_the_grafana_sidecar(
    default_docs: list[dict[str, Any]],
) -> None:
    files = sorted((REPO_ROOT / "monitoring" / "dashboards").glob("*.json"))
    maps = [
        d
        for d in by_kind(default_docs, "ConfigMap")
        if "olist.io/source" in d["metadata"].get("annotations", {})
    ]
    assert len(maps) == len(files)
    for cm in maps:
        assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"
        source = REPO_ROOT / cm["metadata"]["annotations"]["olist.io/source"]
        (key,) = cm["data"]
        assert cm["data"][key] == source.read_text("utf-8")


def test_dashboards_use_the_provisioned_datasource_uids() -> None:
    kps = load_yaml(REPO_ROOT / "k8s" / "values" / "kube-prometheus-stack.yaml")
    uids = {kps["grafana"]["sidecar"]["datasources"]["uid"]}
    uids |= {ds["uid"] for ds in kps["grafana"]["additionalDataSources"]}
    used: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            ds = node.get("datasource")
            if isinstance(ds, dict) and isinstance(ds.get("uid"), str):
                used.add(ds["uid"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    for path in (REPO_ROOT / "monitoring" / "dashboards").glob("*.json"):
        walk(json.loads(path.read_text("utf-8")))
    # Grafana's built-in annotation datasource and template-variable references aside.
    unknown = {u for u in used if not u.startswith(("$", "-- ", "grafana"))} - uids
    assert unknown == set()


def test_rendered_rules_and_dashboards_do_not_go_through_the_template_engine() -> None:
    """Prometheus `{{ $labels }}` in rule files must survive: they are read, never templated."""
    docs = render()
    text = yaml.safe_dump([d for d in docs if d["kind"] == "PrometheusRule"])
    if any(
        "{{" in f.read_text("utf-8") for f in (REPO_ROOT / "monitoring" / "rules").glob("*.yaml")
    ):
        assert "{{" in text


def test_missing_helm_fails_with_the_fix_instead_of_skipping(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from tests.charts import conftest

    monkeypatch.setattr(conftest, "REPO_ROOT", tmp_path)
    monkeypatch.delenv("HELM", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(pytest.fail.Exception, match="make helm"):
        conftest.helm_binary()
