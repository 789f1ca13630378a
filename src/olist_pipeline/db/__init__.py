"""PostgreSQL access: connections per role, migrations."""

from __future__ import annotations

from typing import Any

import psycopg

from olist_pipeline.config import Role, Settings


def connect(
    settings: Settings, role: Role, *, autocommit: bool = False, **kw: Any
) -> psycopg.Connection[Any]:
    """A connection as ``role``'s login, tagged with the component for pg_stat_activity."""
    return psycopg.connect(
        settings.postgres.dsn(role),
        autocommit=autocommit,
        application_name=f"olist-{role.value}",
        **kw,
    )
