"""Shared fixtures for every test tier.

Tiers (folders): unit/ starts no process; integration/ and e2e/ use the real
local stack (PostgreSQL + Kafka + Spark), started once per session by these
fixtures or reused when it is already up (``olist stack up``); dags/ and
charts/ are static.

Isolation on one shared stack: each test gets its own database, cloned from
a template migrated once per session, and its own Kafka namespace (a unique
prefix on every topic and consumer group).

Set ``OLIST_TEST_STACK=external`` to use services you run yourself (pointed
to by the usual OLIST_PG_* / OLIST_KAFKA_BOOTSTRAP variables); the fixtures
then neither start nor stop anything.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from olist_pipeline.config import Role, Settings, load_settings

REALDATA = Path(__file__).resolve().parents[1].parent / "shared" / "realdata"


def _unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="session")
def base_settings() -> Settings:
    return load_settings()


@pytest.fixture(scope="session")
def local_stack(base_settings: Settings) -> Iterator[object]:
    """The real local stack: reused if up, else started now and stopped at the end."""
    from olist_pipeline.stack.stack import LocalStack

    stack = LocalStack(base_settings)
    if os.environ.get("OLIST_TEST_STACK") == "external":
        yield stack
        return
    to_start = [s.name for s in stack.status() if not s.healthy]
    if to_start:
        LocalStack(base_settings, to_start).up()
    try:
        yield stack
    finally:
        if to_start and not os.environ.get("OLIST_KEEP_STACK"):
            LocalStack(base_settings, to_start).down()


@pytest.fixture(scope="session")
def template_database(local_stack: object, base_settings: Settings) -> Iterator[str]:
    """A database migrated once per session; tests clone it (fast file copy)."""
    import psycopg
    from psycopg import sql

    from olist_pipeline.db.migrate import migrate

    name = _unique("olist_tpl_")
    migrate(base_settings.with_database(name))
    yield name
    with psycopg.connect(base_settings.postgres.dsn(Role.ADMIN, "postgres"), autocommit=True) as c:
        c.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@contextmanager
def cloned_database(base_settings: Settings, template: str, prefix: str) -> Iterator[Settings]:
    """Settings pointing at a fresh, fully migrated database, dropped afterwards."""
    import psycopg
    from psycopg import sql

    from olist_pipeline.db.migrate import migrate

    name = _unique(prefix)
    admin = base_settings.postgres.dsn(Role.ADMIN, "postgres")
    with psycopg.connect(admin, autocommit=True) as c:
        c.execute(
            sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                sql.Identifier(name), sql.Identifier(template)
            )
        )
    settings = base_settings.with_database(name)
    # Grants on the database itself are not copied from the template.
    migrate(settings)
    try:
        yield settings
    finally:
        with psycopg.connect(admin, autocommit=True) as c:
            c.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


@pytest.fixture
def pg_settings(template_database: str, base_settings: Settings) -> Iterator[Settings]:
    """Settings pointing at a fresh, fully migrated database of this test's own."""
    with cloned_database(base_settings, template_database, "olist_t_") as settings:
        yield settings


@pytest.fixture
def kafka_settings(local_stack: object, base_settings: Settings) -> Settings:
    """Settings with a Kafka namespace (topic and group prefix) of this test's own."""
    return base_settings.with_kafka_namespace(_unique("t") + ".")


@pytest.fixture
def settings(pg_settings: Settings, kafka_settings: Settings) -> Settings:
    """Own database and own Kafka namespace."""
    return pg_settings.with_kafka_namespace(kafka_settings.kafka.namespace)


@pytest.fixture(scope="session")
def batch_run(
    template_database: str, base_settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[object]:
    """One real olist_batch run shared by the Airflow integration and UI tests.

    Session-scoped and built on ``template_database`` (itself on
    ``local_stack``), so pytest drops its database and stops its Pushgateway
    before it stops the stack. A failed setup is cached by pytest: the second
    module using it fails at once instead of running the DAG again.
    """
    from tests.airflow_support import batch_run_session

    with batch_run_session(template_database, base_settings, tmp_path_factory) as run:
        yield run


@pytest.fixture(scope="session")
def realdata() -> Path:
    if not REALDATA.is_dir():
        pytest.skip(f"real Olist files not found at {REALDATA} (the shared/ folder is absent)")
    return REALDATA
