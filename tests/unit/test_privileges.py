"""The privilege matrix declaration: well formed, and the README shows it."""

from __future__ import annotations

from pathlib import Path

from olist_pipeline.db.privileges import MATRIX, PRIVILEGES, ROLES, SCHEMAS, with_table

README = Path(__file__).resolve().parents[2] / "README.md"


def test_the_readme_role_table_is_rendered_from_the_matrix() -> None:
    text = README.read_text("utf-8")
    assert with_table(text) == text, (
        "README.md's privilege table is out of date: run "
        "`.venv/bin/python -m olist_pipeline.db.privileges --write README.md`"
    )


def test_every_rule_names_known_roles_schemas_and_privileges() -> None:
    for table, rule in MATRIX.items():
        assert table.split(".")[0] in SCHEMAS, table
        assert set(rule.grants) <= set(ROLES), table
        for privs in rule.grants.values():
            assert privs <= set(PRIVILEGES), table


def test_no_component_may_truncate_or_rewrite_another_s_audit_table() -> None:
    audit = {t: r for t, r in MATRIX.items() if t.startswith("audit.")}
    for table, rule in audit.items():
        writers = [g for g, p in rule.grants.items() if p - {"SELECT"}]
        assert len(writers) <= 1, f"{table} has several writers: {writers}"
        assert all("TRUNCATE" not in p for p in rule.grants.values()), table
