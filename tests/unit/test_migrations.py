from __future__ import annotations

from olist_pipeline.db.migrate import available


def test_migrations_are_numbered_and_ordered() -> None:
    ms = available()
    assert [m.version for m in ms] == sorted(m.version for m in ms)
    assert ms[0].version == "001"


def test_migrations_hold_no_passwords() -> None:
    for m in available():
        assert "PASSWORD '" not in m.sql.upper(), m.name
