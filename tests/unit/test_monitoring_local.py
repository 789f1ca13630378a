"""The local monitoring services: on demand only, and a valid Prometheus config."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from olist_pipeline.config import Settings, load_settings
from olist_pipeline.stack.monitoring import DEFAULT_CONSUMER_PORTS, PrometheusService
from olist_pipeline.stack.stack import LocalStack

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings({"OLIST_STATE_DIR": str(tmp_path / "state")})


def _names(stack: LocalStack) -> list[str]:
    return [s.name for s in stack.services]


def test_stack_up_does_not_start_monitoring_unless_asked(settings: Settings) -> None:
    assert _names(LocalStack(settings)) == ["postgres", "kafka", "spark-connect"]
    assert _names(LocalStack(settings, ["monitor"])) == [
        "pushgateway",
        "postgres-exporter",
        "prometheus",
    ]
    assert _names(LocalStack(settings, ["prometheus"])) == ["prometheus"]
    assert _names(LocalStack(settings, everything=True))[-3:] == [
        "pushgateway",
        "postgres-exporter",
        "prometheus",
    ]


def test_prometheus_config_loads_the_project_rules_and_scrapes_loopback(
    settings: Settings,
) -> None:
    prom = PrometheusService(settings)
    config = yaml.safe_load(prom.render_config())
    assert config["rule_files"] == [f"{ROOT / 'monitoring' / 'rules'}/*.yaml"]
    jobs = {j["job_name"]: j for j in config["scrape_configs"]}
    assert set(jobs) == {"prometheus", "olist-consumers", "pushgateway", "olist-postgres"}
    assert jobs["pushgateway"]["honor_labels"] is True
    assert jobs["pushgateway"]["static_configs"][0]["targets"] == ["127.0.0.1:19091"]
    assert prom.address == "127.0.0.1:19090"
    assert "--web.listen-address=127.0.0.1:19090" in prom.argv()
    targets = json.loads(prom.write_consumer_targets(DEFAULT_CONSUMER_PORTS).read_text())
    assert {g["labels"]["consumer"]: g["targets"] for g in targets} == {
        "orders": ["127.0.0.1:19111"],
        "payments": ["127.0.0.1:19112"],
    }


def test_the_rendered_config_and_its_rules_pass_promtool(settings: Settings) -> None:
    promtool = shutil.which("promtool")
    if not promtool:
        pytest.fail("promtool not found: install Debian's `prometheus` package (make setup)")
    prom = PrometheusService(settings, scrape_interval="1s", evaluation_interval="1s")
    prom.root.mkdir(parents=True)
    prom.config_file.write_text(prom.render_config())
    prom.write_consumer_targets({"orders": 1234})
    out = subprocess.run(
        [promtool, "check", "config", str(prom.config_file)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "SUCCESS" in out.stdout and "rules found" in out.stdout


def test_spark_connect_server_runs_pyspark_on_loopback_with_the_local_jvm_settings(
    settings: Settings,
) -> None:
    from olist_pipeline.stack.spark_connect import SERVER_CLASS, SparkConnectService

    svc = SparkConnectService(settings)
    argv = svc.argv()
    assert argv[0].endswith("pyspark/bin/spark-submit") and argv[1:3] == ["--class", SERVER_CLASS]
    conf = dict(a.split("=", 1) for a in argv[argv.index("--name") + 2 :] if a != "--conf")
    assert conf["spark.connect.grpc.binding.address"] == "127.0.0.1"
    assert conf["spark.connect.grpc.binding.port"] == str(settings.spark.connect_port)
    assert conf["spark.master"] == settings.spark.master
    assert "-XX:TieredStopAtLevel=1" in conf["spark.driver.extraJavaOptions"]
    env = svc.env()
    assert "SPARK_CONNECT_MODE_ENABLED" not in env and env["SPARK_LOCAL_IP"] == "127.0.0.1"


def test_a_transform_without_the_connect_server_names_the_fix(settings: Settings) -> None:
    import socket
    from dataclasses import replace

    from olist_pipeline.transform.spark import SparkUnavailable, spark_session

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        free = s.getsockname()[1]
    closed = replace(
        settings,
        spark=replace(settings.spark, remote=f"sc://127.0.0.1:{free}", connect_port=free),
    )
    with pytest.raises(SparkUnavailable, match=r"olist stack up.*OLIST_SPARK_CONNECT=false"):
        spark_session(closed, "probe")
