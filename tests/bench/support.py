"""Databases the benchmarks build in and drop: a fresh, migrated one per measured data set."""

from __future__ import annotations

import psycopg
from psycopg import sql

from olist_pipeline.config import Role, Settings
from olist_pipeline.db.migrate import migrate


def fresh_db(settings: Settings, name: str) -> Settings:
    """``settings`` pointed at a new, migrated database ``name`` (an old one is dropped)."""
    with psycopg.connect(settings.postgres.dsn(Role.ADMIN, "postgres"), autocommit=True) as c:
        c.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
    s = settings.with_database(name)
    migrate(s)
    return s


def drop_db(settings: Settings) -> None:
    with psycopg.connect(settings.postgres.dsn(Role.ADMIN, "postgres"), autocommit=True) as c:
        c.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(settings.postgres.database)
            )
        )
