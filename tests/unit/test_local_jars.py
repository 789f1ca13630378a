"""The pinned jar sets: Kafka Connect (the stream benchmark's peer) follows the broker."""

from __future__ import annotations

import re
from importlib import resources

from olist_pipeline.stack import jars


def _pins(pom: str) -> dict[str, str]:
    text = resources.files("olist_pipeline.stack").joinpath(pom).read_text()
    return dict(re.findall(r"<([a-z0-9.]+)\.version>([^<]+)<", text))


def test_every_jar_set_has_its_pom_and_its_own_folder() -> None:
    folders = [folder for _, folder in jars.SETS.values()]
    assert len(set(folders)) == len(folders)
    for pom, _ in jars.SETS.values():
        assert resources.files("olist_pipeline.stack").joinpath(pom).is_file(), pom


def test_connect_runs_the_brokers_kafka_version_and_the_same_jdbc_driver() -> None:
    stack, connect = _pins("pom.xml"), _pins("connect-pom.xml")
    assert connect["connect"] == stack["kafka"]
    # The JDBC driver's version is written once, in the stack's pom: Connect gets it from there.
    assert "postgresql.jdbc" not in connect
    assert jars._inherited("connect") == [f"-Dpostgresql.jdbc.version={stack['postgresql.jdbc']}"]
    assert jars._inherited("stack") == []
    assert connect["debezium"].endswith(".Final")
