from __future__ import annotations

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
    assert s.postgres.dsn(Role.READER) == "postgresql://u_reader:p%40ss%3Aw%2Frd@pg-rw:55432/olist"


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
