"""The privilege matrix (olist_pipeline.db.privileges) holds on the real server, both ways.

For every group role and every table of raw, staging, warehouse, marts and
audit, each of SELECT/INSERT/UPDATE/DELETE/TRUNCATE is run as an actual
statement, through the role's own login, in a transaction that is rolled
back: a declared privilege must work, any other must fail with SQLSTATE 42501.
The statements touch no row (``WHERE false``, zero-row INSERT) except
TRUNCATE, so they exercise exactly the executor's privilege check without
depending on each table's constraints.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
import pytest
from psycopg import sql

from olist_pipeline.config import Role, Settings
from olist_pipeline.db import connect
from olist_pipeline.db.migrate import GROUP_ROLES
from olist_pipeline.db.privileges import DEFAULTS, MATRIX, PRIVILEGES, ROLES, SCHEMAS, expected

pytestmark = pytest.mark.integration

LOGIN_OF = {group: role for role, group in GROUP_ROLES.items()}


def catalogue(conn: psycopg.Connection[Any]) -> set[str]:
    """Every table of the layer schemas (partitions belong to their parent's rule)."""
    rows = conn.execute(
        "SELECT n.nspname || '.' || c.relname FROM pg_class c"
        " JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = ANY(%s) AND c.relkind IN ('r', 'p', 'v', 'm', 'f')"
        " AND NOT c.relispartition",
        (list(SCHEMAS),),
    ).fetchall()
    return {r[0] for r in rows}


def undeclared(settings: Settings) -> tuple[list[str], list[str]]:
    with connect(settings, Role.ADMIN) as conn:
        found = catalogue(conn)
    return sorted(found - set(MATRIX)), sorted(set(MATRIX) - found)


def _statement(table: str, privilege: str, first_column: str) -> sql.Composable:
    t = sql.SQL(".").join(sql.Identifier(p) for p in table.split("."))
    if privilege == "SELECT":
        return sql.SQL("SELECT count(*) FROM {}").format(t)
    if privilege == "INSERT":
        # The row type needs no privilege on the table; zero rows pass every constraint.
        return sql.SQL("INSERT INTO {} SELECT (NULL::{}).* WHERE false").format(t, t)
    if privilege == "UPDATE":
        column = sql.Identifier(first_column)
        return sql.SQL("UPDATE {} SET {} = NULL WHERE false").format(t, column)
    if privilege == "DELETE":
        return sql.SQL("DELETE FROM {} WHERE false").format(t)
    return sql.SQL("TRUNCATE {}").format(t)


@contextmanager
def as_group(settings: Settings, group: str) -> Iterator[psycopg.Connection[Any]]:
    """A connection through the group's own login; SET ROLE for a role that has none."""
    if group in LOGIN_OF:
        with connect(settings, LOGIN_OF[group]) as conn:
            yield conn
        return
    with connect(settings, Role.ADMIN) as conn:
        conn.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(group)))
        yield conn


def mismatches(settings: Settings) -> list[str]:
    """Every (role, table, privilege) whose behaviour differs from the matrix."""
    with connect(settings, Role.ADMIN) as conn:
        present = catalogue(conn)
        first = dict(
            conn.execute(
                "SELECT table_schema || '.' || table_name, column_name"
                " FROM information_schema.columns WHERE ordinal_position = 1"
                " AND table_schema = ANY(%s)",
                (list(SCHEMAS),),
            ).fetchall()
        )
    tables = sorted(present & set(MATRIX))
    problems: list[str] = []
    for group in ROLES:
        with as_group(settings, group) as conn:
            for table in tables:
                allowed = expected(table, group)
                for privilege in PRIVILEGES:
                    stmt = _statement(table, privilege, first[table])
                    try:
                        with conn.transaction(force_rollback=True):
                            conn.execute(stmt)
                        outcome = "ok"
                    except psycopg.errors.InsufficientPrivilege:
                        outcome = "refused"
                    except psycopg.Error as exc:
                        outcome = f"failed ({exc.sqlstate}: {str(exc).splitlines()[0]})"
                    if privilege in allowed and outcome != "ok":
                        problems.append(f"{group} should {privilege} {table} but it {outcome}")
                    elif privilege not in allowed and outcome != "refused":
                        problems.append(
                            f"{group} must not {privilege} {table} but it {outcome}"
                            if outcome != "ok"
                            else f"{group} can {privilege} {table}: not in the matrix (widened?)"
                        )
    return problems


def test_every_table_is_in_the_matrix(pg_settings: Settings) -> None:
    missing, stale = undeclared(pg_settings)
    assert not missing, (
        f"tables without a rule in the privilege matrix: {', '.join(missing)}; declare who may "
        "read and write each in MATRIX of src/olist_pipeline/db/privileges.py (and grant it in "
        "its migration)"
    )
    assert not stale, f"the privilege matrix names tables that do not exist: {', '.join(stale)}"


def test_every_grant_works_and_every_refusal_holds(pg_settings: Settings) -> None:
    problems = mismatches(pg_settings)
    assert not problems, f"{len(problems)} privilege(s) differ from the matrix:\n" + "\n".join(
        problems
    )


def test_the_catalogue_agrees_with_the_matrix(pg_settings: Settings) -> None:
    """The same matrix read from the ACLs: catches grants to roles the statements cannot reach."""
    with connect(pg_settings, Role.ADMIN) as conn:
        tables = sorted(catalogue(conn) & set(MATRIX))
        problems = [
            f"{group} {'lacks' if want else 'holds'} {privilege} on {table}"
            for group in ROLES
            for table in tables
            for privilege in PRIVILEGES
            for want in [privilege in expected(table, group)]
            if (
                conn.execute(
                    "SELECT has_table_privilege(%s, %s, %s)", (group, table, privilege)
                ).fetchone()
                or (False,)
            )[0]
            != want
        ]
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize(("schema", "creator"), sorted(DEFAULTS))
def test_tables_created_later_get_only_the_declared_defaults(
    pg_settings: Settings, schema: str, creator: str
) -> None:
    want = DEFAULTS[(schema, creator)]
    with connect(pg_settings, Role.ADMIN) as conn, conn.transaction(force_rollback=True):
        if creator:
            conn.execute(sql.SQL("SET LOCAL ROLE {}").format(sql.Identifier(creator)))
        probe = f"{schema}.privilege_probe"
        conn.execute(
            sql.SQL("CREATE TABLE {}.privilege_probe (x int)").format(sql.Identifier(schema))
        )
        conn.execute("RESET ROLE")
        got = {
            group: frozenset(
                p
                for p in PRIVILEGES
                if (
                    conn.execute(
                        "SELECT has_table_privilege(%s, %s, %s)", (group, probe, p)
                    ).fetchone()
                    or (False,)
                )[0]
            )
            for group in ROLES
        }
    assert {g: p for g, p in got.items() if p} == dict(want)


# --- audit.step_runs: only through the functions, each step by its own component ---

STEPS = {
    "olist_loader": "ingest.orders",
    "olist_transformer": "transform.staging",
    "olist_quality": "dq.raw",
    "olist_stream": "stream.orders",
}


def test_each_component_records_only_its_own_steps(pg_settings: Settings) -> None:
    problems = []
    for group, role in LOGIN_OF.items():
        with connect(pg_settings, role) as conn:
            for owner, step in STEPS.items():
                try:
                    with conn.transaction(force_rollback=True):
                        conn.execute("SELECT audit.step_started('r1', %s)", (step,))
                    outcome = "ok"
                except psycopg.errors.InsufficientPrivilege:
                    outcome = "refused"
                want = "ok" if group == owner else "refused"
                if outcome != want:
                    problems.append(f"{group} recording {step}: {outcome}, expected {want}")
    assert not problems, "\n".join(problems)


def test_step_functions_open_close_and_never_rewrite(pg_settings: Settings) -> None:
    with connect(pg_settings, Role.QUALITY, autocommit=True) as conn:
        assert conn.execute("SELECT audit.step_started('r1', 'dq.raw')").fetchone() == (1,)
        closed = conn.execute(
            "SELECT audit.step_finished('r1', 'dq.raw', 'succeeded', NULL, 7, '{\"a\": 1}')"
        ).fetchone()
        assert closed == (True,)
        # A finished step is not closed again ...
        again = conn.execute("SELECT audit.step_finished('r1', 'dq.raw', 'failed')").fetchone()
        assert again == (False,)
        # ... until a retry re-opens it as the next attempt.
        assert conn.execute("SELECT audit.step_started('r1', 'dq.raw')").fetchone() == (2,)
        with pytest.raises(psycopg.errors.InvalidParameterValue, match="succeeded or failed"):
            conn.execute("SELECT audit.step_finished('r1', 'dq.raw', 'running')")
        with pytest.raises(psycopg.errors.InvalidParameterValue, match="names no component"):
            conn.execute("SELECT audit.step_started('r1', 'sneaky')")
    with connect(pg_settings, Role.READER) as conn:
        row = conn.execute(
            "SELECT status, attempt, rows_out, detail FROM audit.step_runs"
            " WHERE run_id = 'r1' AND step = 'dq.raw'"
        ).fetchone()
        assert row == ("running", 2, None, {})
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("SELECT audit.step_started('r1', 'dq.raw')")


def test_step_owners_in_sql_match_the_declaration(pg_settings: Settings) -> None:
    from olist_pipeline.db.privileges import STEP_OWNERS

    with connect(pg_settings, Role.ADMIN) as conn:
        for prefix, owner in STEP_OWNERS.items():
            got = conn.execute("SELECT audit.step_owner(%s)", (f"{prefix}.x",)).fetchone()
            assert got == (owner,), prefix
        assert conn.execute("SELECT audit.step_owner('other.x')").fetchone() == (None,)
