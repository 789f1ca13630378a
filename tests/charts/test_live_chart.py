"""The live sales SparkApplication: the chart renders spark-apps/k8s/live_sales.yaml (generated
from definition.LIVE_SALES) with the release's values, on a checkpoint claim, with only the
stream login; the schema covers it."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from olist_pipeline.airflow.definition import LIVE_SALES
from olist_pipeline.config import Role, Target, load_settings
from tests.charts.conftest import (
    CHART,
    REPO_ROOT,
    by_kind,
    load_yaml,
    render,
    run_helm,
    template_args,
)
from tests.k8s_validate import spark_pin, validate_manifest

VALUES = load_yaml(CHART / "values.yaml")
TEMPLATE = REPO_ROOT / "spark-apps" / "k8s" / "live_sales.yaml"
PLATFORM_SH = REPO_ROOT / "k8s" / "platform.sh"


def _live(docs: list[dict[str, Any]]) -> dict[str, Any]:
    (app,) = by_kind(docs, "SparkApplication")
    return app


def test_the_live_application_renders_from_the_spark_apps_file(
    default_docs: list[dict[str, Any]],
) -> None:
    app, source = _live(default_docs), yaml.safe_load(TEMPLATE.read_text("utf-8"))
    assert validate_manifest(app, strict=True) == []
    v = VALUES["live"]
    spec = app["spec"]
    assert app["metadata"]["name"] == source["metadata"]["name"]
    assert app["metadata"]["namespace"] == v["namespace"]
    assert spec["image"] == f"{VALUES['image']['repository']}:{VALUES['image']['tag']}"
    assert spec["mainApplicationFile"] == "local:///opt/olist/spark-apps/live_sales.py"
    assert spec["sparkVersion"] == spark_pin()
    assert spec["restartPolicy"]["type"] == "OnFailure"
    args = spec["arguments"]
    checkpoint = args[args.index("--checkpoint") + 1]
    assert checkpoint.startswith(v["checkpoint"]["mountPath"] + "/")
    assert args[args.index("--watermark-delay") + 1] == v["watermarkDelay"]
    assert args[args.index("--metrics-port") + 1] == str(v["metricsPort"])
    (volume,) = spec["volumes"]
    assert volume["persistentVolumeClaim"]["claimName"] == v["checkpoint"]["claimName"]
    (mount,) = spec["driver"]["volumeMounts"]
    assert (mount["name"], mount["mountPath"]) == (volume["name"], v["checkpoint"]["mountPath"])
    assert spec["driver"]["ports"][0]["containerPort"] == v["metricsPort"]
    assert spec["driver"]["memory"] == v["driver"]["memory"]
    assert spec["executor"]["instances"] == v["executor"]["instances"]
    # Everything the chart does not set is the file's, unchanged.
    for key in ("type", "mode", "pythonVersion", "sparkConf", "restartPolicy"):
        assert spec[key] == source["spec"][key], key
    (claim,) = [
        d
        for d in by_kind(default_docs, "PersistentVolumeClaim")
        if d["metadata"]["name"] == v["checkpoint"]["claimName"]
    ]
    assert claim["metadata"]["namespace"] == v["namespace"]
    assert claim["spec"]["resources"]["requests"]["storage"] == v["checkpoint"]["size"]
    (monitor,) = [d for d in by_kind(default_docs, "PodMonitor") if "live" in d["metadata"]["name"]]
    assert monitor["spec"]["selector"]["matchLabels"]["spark-role"] == "driver"
    assert (
        monitor["spec"]["selector"]["matchLabels"]["app.kubernetes.io/component"]
        == spec["driver"]["labels"]["app.kubernetes.io/component"]
    )


def test_the_live_driver_holds_only_the_stream_login(default_docs: list[dict[str, Any]]) -> None:
    app = _live(default_docs)
    ns = app["metadata"]["namespace"]
    for part in ("driver", "executor"):
        env: dict[str, str] = {}
        for ref in app["spec"][part]["envFrom"]:
            kind, name = (
                ("ConfigMap", ref["configMapRef"]["name"])
                if "configMapRef" in ref
                else (
                    "Secret",
                    ref["secretRef"]["name"],
                )
            )
            (doc,) = [
                d
                for d in by_kind(default_docs, kind)
                if d["metadata"]["name"] == name and d["metadata"]["namespace"] == ns
            ]
            if kind == "Secret":
                import base64

                env.update({k: base64.b64decode(x).decode() for k, x in doc["data"].items()})
            else:
                env.update(doc["data"])
        settings = load_settings(env)
        assert settings.target is Target.KIND
        held = {r for r in Role if settings.postgres.credentials.get(r) is not None}
        assert held == {Role.STREAM}, part


def test_the_live_values_default_to_the_definition() -> None:
    """A default install runs the live job as the definition (and its generated file) says."""
    v, r = VALUES["live"], LIVE_SALES.resources
    assert v["watermarkDelay"] == LIVE_SALES.watermark_delay
    assert v["metricsPort"] == LIVE_SALES.metrics_port
    assert v["checkpoint"]["claimName"] == LIVE_SALES.checkpoint_claim
    assert v["checkpoint"]["mountPath"] == LIVE_SALES.checkpoint_mount
    assert (v["driver"]["cores"], v["driver"]["memory"]) == (r.driver_cores, r.driver_memory)
    assert (v["executor"]["instances"], v["executor"]["cores"], v["executor"]["memory"]) == (
        r.executor_instances,
        r.executor_cores,
        r.executor_memory,
    )
    assert {"secretRef": {"name": "olist-db-stream"}} in yaml.safe_load(
        TEMPLATE.read_text("utf-8")
    )["spec"]["driver"]["envFrom"]
    assert LIVE_SALES.roles == (Role.STREAM,)


def test_live_disabled_renders_no_spark_application(tmp_path: Path) -> None:
    off = tmp_path / "live-off.yaml"
    off.write_text("live:\n  enabled: false\n")
    docs = render(off)
    assert by_kind(docs, "SparkApplication") == []
    names = {d["metadata"]["name"] for d in by_kind(docs, "PersistentVolumeClaim")}
    assert VALUES["live"]["checkpoint"]["claimName"] not in names


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("live.watermarkDelay", "soon"),
        ("live.driver.memory", "lots"),
        ("live.checkpoint.mountPath", "relative/path"),
        ("live.unknownKey", "x"),
    ],
)
def test_the_values_schema_rejects_bad_live_values(key: str, value: str) -> None:
    proc = run_helm(*template_args(sets={key: value}), check=False)
    assert proc.returncode != 0
    assert "live" in proc.stderr


def test_the_image_resolves_the_spark_kafka_jars_at_the_spark_version() -> None:
    docker = (REPO_ROOT / "images" / "pipeline.Dockerfile").read_text("utf-8")
    pom = (REPO_ROOT / "src" / "olist_pipeline" / "stack" / "spark-kafka.pom.xml").read_text()
    # The version is written once (the pyspark pin): passed to the build, not defaulted in
    # the Dockerfile, and passed to Maven, not kept in the pom.
    assert re.search(r"^ARG SPARK_VERSION$", docker, re.M)
    assert "<spark.version>" not in pom and "${spark.version}" in pom
    assert '--build-arg SPARK_VERSION="$SPARK_VERSION"' in PLATFORM_SH.read_text("utf-8")
    assert "spark-sql-kafka-0-10_2.13/${SPARK_VERSION}" in docker
    assert "/jars/spark-kafka/ ${SPARK_HOME}/jars/" in docker
