from __future__ import annotations

from pathlib import Path

import pytest

from olist_pipeline.config import ConfigError, Role, Target, load_settings


def test_local_defaults_need_no_environment() -> None:
    s = load_settings({})
    assert s.target is Target.LOCAL
    assert s.postgres.host == "127.0.0.1"
    assert s.kafka.bootstrap_servers == f"127.0.0.1:{s.local.kafka_port}"
    assert s.postgres.creds(Role.LOADER).user == "olist_loader"


def test_settings_are_read_at_call_time_not_import() -> None:
    assert load_settings({"OLIST_PG_PORT": "6000"}).postgres.port == 6000
    assert load_settings({"OLIST_PG_PORT": "6001"}).postgres.port == 6001


def test_kind_target_has_no_local_fallbacks() -> None:
    with pytest.raises(ConfigError, match="OLIST_PG_HOST is not set"):
        load_settings({"OLIST_ENV": "kind"})


def test_kind_target_with_everything_set() -> None:
    env = {"OLIST_ENV": "kind", "OLIST_PG_HOST": "pg-rw", "OLIST_KAFKA_BOOTSTRAP": "kafka:9092",
           "OLIST_PG_DATABASE": "olist", "OLIST_SPARK_MASTER": "k8s://x",
           "OLIST_SPARK_DRIVER_MEMORY": "1g"}  # fmt: skip
    for role in Role:
        env[f"OLIST_PG_{role.value.upper()}_USER"] = f"u_{role.value}"
        env[f"OLIST_PG_{role.value.upper()}_PASSWORD"] = "p@ss:w/rd"
    s = load_settings(env)
    assert s.target is Target.KIND
    # Special characters are URL-escaped in the DSN.
    assert s.postgres.dsn(Role.READER) == "postgresql://u_reader:p%40ss%3Aw%2Frd@pg-rw:15432/olist"


def test_bad_values_name_the_variable() -> None:
    with pytest.raises(ConfigError, match="OLIST_PG_PORT='abc' is not an integer"):
        load_settings({"OLIST_PG_PORT": "abc"})
    with pytest.raises(ConfigError, match="OLIST_ENV='prod' is not a known target"):
        load_settings({"OLIST_ENV": "prod"})


def test_namespaces_prefix_topics_and_groups() -> None:
    s = load_settings({}).with_kafka_namespace("t1.")
    assert s.kafka.topic("orders") == "t1.orders"
    assert s.kafka.group("sink") == "t1.sink"
    assert load_settings({}).with_database("other").postgres.dsn().endswith("/other")


def test_kind_pod_needs_only_its_own_login() -> None:
    env = {"OLIST_ENV": "kind", "OLIST_PG_HOST": "pg", "OLIST_KAFKA_BOOTSTRAP": "k:9092",
           "OLIST_PG_STREAM_USER": "s", "OLIST_PG_STREAM_PASSWORD": "x"}  # fmt: skip
    s = load_settings(env)
    assert s.postgres.creds(Role.STREAM).user == "s"
    with pytest.raises(ConfigError, match="OLIST_PG_LOADER_USER / OLIST_PG_LOADER_PASSWORD"):
        s.postgres.creds(Role.LOADER)


def _every_variable_set(tmp_path: Path) -> dict[str, str]:
    """A value unlike the default for every variable load_settings reads."""
    env = {
        "OLIST_ENV": "local", "OLIST_PG_HOST": "db.test", "OLIST_PG_PORT": "6100",
        "OLIST_PG_DATABASE": "other", "OLIST_KAFKA_BOOTSTRAP": "k1:1,k2:2",
        "OLIST_KAFKA_NAMESPACE": "ns-", "OLIST_KAFKA_DEBUG": "cgrp",
        "OLIST_SPARK_MASTER": "local[1]",
        "OLIST_SPARK_DRIVER_MEMORY": "2g", "OLIST_SPARK_SHUFFLE_PARTITIONS": "7",
        "OLIST_SPARK_CONCURRENT_JOBS": "2", "OLIST_JDBC_JAR": str(tmp_path / "pg.jar"),
        "OLIST_STATE_DIR": str(tmp_path / "state"), "OLIST_KAFKA_PORT": "6101",
        "OLIST_KAFKA_CONTROLLER_PORT": "6102", "OLIST_PROMETHEUS_PORT": "6103",
        "OLIST_PUSHGATEWAY_PORT": "6104", "OLIST_PG_EXPORTER_PORT": "6105",
        "OLIST_PG_OS_USER": "nobody", "OLIST_PG_BINDIR": str(tmp_path / "bin"),
        "OLIST_KAFKA_HEAP": "2g", "OLIST_MONITORING_DIR": str(tmp_path / "mon"),
        "OLIST_CLUSTER_API_PORT": "6106", "OLIST_CLUSTER_ETCD_PORT": "6107",
        "OLIST_CLUSTER_ETCD_PEER_PORT": "6108", "OLIST_CLUSTER_CONTROLLER_MANAGER_PORT": "6109",
        "OLIST_CLUSTER_SCHEDULER_PORT": "6110", "OLIST_CLUSTER_KUBELET_PORT": "6112",
        "OLIST_SPARK_CONNECT": "false", "OLIST_SPARK_CONNECT_PORT": "6113",
        "OLIST_DATA_DIR": str(tmp_path / "data"),
        "OLIST_LOG_LEVEL": "DEBUG", "OLIST_LOG_FORMAT": "console",
        "OLIST_LOG_FILE": str(tmp_path / "run.log"), "OLIST_METRICS_PORT": "6111",
        "OLIST_PUSHGATEWAY_URL": "http://pg.test:1", "OLIST_RUN_ID": "r-1",
        "OLIST_LANDING_DIR": str(tmp_path / "landing"), "OLIST_AIRFLOW_USER": "u",
        "OLIST_AIRFLOW_PASSWORD": "p",
    }  # fmt: skip
    for role in Role:
        env[f"OLIST_PG_{role.value.upper()}_USER"] = f"user-{role.value}"
        env[f"OLIST_PG_{role.value.upper()}_PASSWORD"] = f"pw-{role.value}"
    return env


@pytest.mark.parametrize("case", ["defaults", "everything", "kind"])
def test_to_env_is_the_inverse_of_load_settings(case: str, tmp_path: Path) -> None:
    if case == "defaults":
        s = load_settings({})
    elif case == "everything":
        s = load_settings(_every_variable_set(tmp_path))
    else:
        s = load_settings(
            {
                "OLIST_ENV": "kind",
                "OLIST_PG_HOST": "pg-rw",
                "OLIST_KAFKA_BOOTSTRAP": "kafka:9092",
                "OLIST_PG_LOADER_USER": "l",
                "OLIST_PG_LOADER_PASSWORD": "p",
            }
        )
    assert load_settings(s.to_env()) == s
    # Settings changed in code travel too (the tests' per-database settings).
    changed = s.with_database("elsewhere").with_kafka_namespace("t-")
    assert load_settings(changed.to_env()) == changed


def test_to_env_names_every_variable_load_settings_reads(tmp_path: Path) -> None:
    # The variables that differ from their defaults all come back: none is dropped.
    env = _every_variable_set(tmp_path)
    s = load_settings(env)
    assert set(s.to_env()) == set(env)
    assert s.to_env()["OLIST_KAFKA_BOOTSTRAP"] == "k1:1,k2:2"


def test_spark_connect_is_the_local_default_and_never_on_the_cluster() -> None:
    local = load_settings({"OLIST_SPARK_CONNECT_PORT": "6200"})
    assert local.spark.remote == "sc://127.0.0.1:6200"
    assert load_settings({"OLIST_SPARK_CONNECT": "false"}).spark.remote is None
    kind = load_settings(
        {"OLIST_ENV": "kind", "OLIST_PG_HOST": "pg", "OLIST_KAFKA_BOOTSTRAP": "k:1"}
    )
    assert kind.spark.remote is None
    with pytest.raises(ConfigError, match="OLIST_SPARK_CONNECT='maybe' is not a boolean"):
        load_settings({"OLIST_SPARK_CONNECT": "maybe"})


def test_jdbc_jar_is_found_in_the_stack_jars_folder_or_named_by_the_variable(
    tmp_path: Path,
) -> None:
    settings = load_settings({"OLIST_STATE_DIR": str(tmp_path)})
    with pytest.raises(ConfigError, match="make jars"):
        settings.jdbc_jar()
    lib = settings.local.stack_jars_dir
    lib.mkdir(parents=True)
    (lib / "postgresql-42.7.8.jar").write_bytes(b"")
    assert settings.jdbc_jar() == lib / "postgresql-42.7.8.jar"
    named = tmp_path / "driver.jar"
    with pytest.raises(ConfigError, match="OLIST_JDBC_JAR"):
        load_settings({"OLIST_JDBC_JAR": str(named)}).jdbc_jar()
    named.write_bytes(b"")
    assert load_settings({"OLIST_JDBC_JAR": str(named)}).jdbc_jar() == named
