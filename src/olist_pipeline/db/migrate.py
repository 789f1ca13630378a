"""Versioned SQL migrations with a small runner.

Why not Alembic or yoyo: our tables are written by COPY and Spark, not by an
ORM, so migrations are plain PostgreSQL DDL; the runner needs nothing but
psycopg (it runs the same way from the CLI, a test fixture and the chart's
Helm-hook Job), takes an advisory lock so concurrent runs serialise, and
refuses to continue when an applied file was edited (checksum drift).
"""

from __future__ import annotations

import hashlib
import re
import time
from dataclasses import dataclass
from importlib import resources

import psycopg
from psycopg import sql

from olist_pipeline.config import Role, Settings
from olist_pipeline.errors import OlistError
from olist_pipeline.logs import get_logger

log = get_logger(__name__)

_NAME = re.compile(r"^V(\d{3})__([a-z0-9_]+)\.sql$")
# Arbitrary but fixed: every migrating process takes the same lock.
_LOCK_KEY = 0x0115_7A11

GROUP_ROLES: dict[Role, str] = {
    Role.LOADER: "olist_loader",
    Role.TRANSFORMER: "olist_transformer",
    Role.QUALITY: "olist_quality",
    Role.STREAM: "olist_stream",
    Role.READER: "olist_reader",
}


class MigrationError(OlistError):
    pass


@dataclass(frozen=True)
class Migration:
    version: str
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def available() -> list[Migration]:
    folder = resources.files("olist_pipeline.db").joinpath("migrations")
    found: list[Migration] = []
    for entry in folder.iterdir():
        match = _NAME.match(entry.name)
        if match:
            found.append(Migration(match.group(1), match.group(2), entry.read_text("utf-8")))
        elif entry.name.endswith(".sql"):
            raise MigrationError(f"migration file {entry.name!r} does not match V<NNN>__<name>.sql")
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise MigrationError(f"two migrations share a version number: {versions}")
    return found


def ensure_database(settings: Settings) -> bool:
    """Create the target database if it is missing. Returns True if created."""
    with psycopg.connect(
        settings.postgres.dsn(Role.ADMIN, database="postgres"), autocommit=True
    ) as conn:
        exists = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (settings.postgres.database,)
        ).fetchone()
        if exists:
            return False
        conn.execute(
            sql.SQL("CREATE DATABASE {}").format(sql.Identifier(settings.postgres.database))
        )
        return True


def migrate(settings: Settings) -> list[str]:
    """Apply pending migrations and attach logins. Returns the versions applied."""
    ensure_database(settings)
    applied_now: list[str] = []
    with psycopg.connect(settings.postgres.dsn(Role.ADMIN), autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (_LOCK_KEY,))
        try:
            conn.execute("CREATE SCHEMA IF NOT EXISTS audit")
            conn.execute(
                """
                CREATE TABLE IF NOT EXISTS audit.schema_migrations (
                    version     text PRIMARY KEY,
                    name        text NOT NULL,
                    checksum    text NOT NULL,
                    applied_at  timestamptz NOT NULL DEFAULT now(),
                    duration_ms integer NOT NULL
                )
                """
            )
            done: dict[str, str] = dict(
                conn.execute("SELECT version, checksum FROM audit.schema_migrations").fetchall()
            )
            for m in available():
                if m.version in done:
                    if done[m.version] != m.checksum:
                        raise MigrationError(
                            f"migration V{m.version}__{m.name}.sql was changed after it was "
                            "applied; add a new migration instead of editing an applied one"
                        )
                    continue
                t0 = time.monotonic()
                with conn.transaction():
                    conn.execute(m.sql.encode())
                    # A migration may SET LOCAL ROLE to own its objects.
                    conn.execute("RESET ROLE")
                    conn.execute(
                        "INSERT INTO audit.schema_migrations (version, name, checksum, duration_ms)"
                        " VALUES (%s, %s, %s, %s)",
                        (m.version, m.name, m.checksum, int((time.monotonic() - t0) * 1000)),
                    )
                applied_now.append(m.version)
                log.info("migration_applied", version=m.version, name=m.name)
            attach_logins(conn, settings)
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_KEY,))
    return applied_now


def attach_logins(conn: psycopg.Connection[tuple[object, ...]], settings: Settings) -> None:
    """Give each component's login user its password and its group role.

    Roles are cluster-wide, so this also runs when the database already
    existed (e.g. a fresh database cloned from a template).
    """
    for role, group in GROUP_ROLES.items():
        creds = settings.postgres.creds(role)
        user = sql.Identifier(creds.user)
        exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (creds.user,)).fetchone()
        if creds.user == group:
            conn.execute(
                sql.SQL("ALTER ROLE {} LOGIN PASSWORD {}").format(user, sql.Literal(creds.password))
            )
        else:
            if not exists:
                conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(user))
            conn.execute(
                sql.SQL("ALTER ROLE {} LOGIN PASSWORD {}").format(user, sql.Literal(creds.password))
            )
            conn.execute(sql.SQL("GRANT {} TO {}").format(sql.Identifier(group), user))
        conn.execute(
            sql.SQL("GRANT CONNECT, TEMPORARY ON DATABASE {} TO {}").format(
                sql.Identifier(settings.postgres.database), user
            )
        )


def status(settings: Settings) -> list[tuple[str, str, bool]]:
    """(version, name, applied) for every known migration."""
    try:
        with psycopg.connect(settings.postgres.dsn(Role.ADMIN)) as conn:
            done = {
                r[0] for r in conn.execute("SELECT version FROM audit.schema_migrations").fetchall()
            }
    except (psycopg.errors.UndefinedTable, psycopg.OperationalError):
        done = set()
    return [(m.version, m.name, m.version in done) for m in available()]
