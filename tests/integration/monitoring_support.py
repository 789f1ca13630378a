"""Helpers for the monitoring integration tests: rows in real tables, free ports."""

from __future__ import annotations

import socket
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

import psycopg
from psycopg import sql

from olist_pipeline.config import Role, Settings

_DEFAULTS: Mapping[str, Any] = {
    "integer": 1,
    "smallint": 1,
    "bigint": 1,
    "numeric": 1,
    "double precision": 1.0,
    "real": 1.0,
    "text": "x",
    "character varying": "x",
    "boolean": False,
    "date": date(2017, 1, 1),
    "timestamp without time zone": datetime(2017, 1, 1),
    "timestamp with time zone": datetime(2017, 1, 1),
    "jsonb": "{}",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def insert_rows(settings: Settings, table: str, rows: list[dict[str, Any]]) -> None:
    """Insert ``rows``; NOT NULL columns a row leaves out get a plain value of their type.

    Keeps the seeds valid while other areas add columns to their tables.
    """
    schema, name = table.split(".")
    with psycopg.connect(settings.postgres.dsn(Role.ADMIN), autocommit=True) as conn:
        columns = conn.execute(
            """
            SELECT column_name, data_type
              FROM information_schema.columns
             WHERE table_schema = %s AND table_name = %s
               AND is_nullable = 'NO' AND column_default IS NULL
            """,
            (schema, name),
        ).fetchall()
        assert columns, f"{table} does not exist or has no columns"
        for row in rows:
            full = {c: _DEFAULTS[t] for c, t in columns if c not in row}
            full.update(row)
            conn.execute(
                sql.SQL("INSERT INTO {} ({}) VALUES ({})").format(
                    sql.Identifier(schema, name),
                    sql.SQL(", ").join(map(sql.Identifier, full)),
                    sql.SQL(", ").join(sql.Placeholder() * len(full)),
                ),
                list(full.values()),
            )
