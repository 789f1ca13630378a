"""DQ gates on the real PostgreSQL: clean data passes, quirks are counted, broken loads fail."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest

from olist_pipeline.cli import main
from olist_pipeline.config import Role, Settings
from olist_pipeline.db import connect
from olist_pipeline.dq.gates import run_layer
from olist_pipeline.dq.model import CheckResult, Severity
from tests.integration._quality_data import QUIRKS, clean, hid, load_raw, load_staging, quirky

pytestmark = pytest.mark.integration


def _by_key(results: tuple[CheckResult, ...]) -> dict[tuple[str, str], CheckResult]:
    return {(r.table, r.name): r for r in results}


@pytest.fixture
def cli_env(pg_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    """Point the `olist` CLI at the test's own database."""
    monkeypatch.setenv("OLIST_PG_DATABASE", pg_settings.postgres.database)
    monkeypatch.delenv("OLIST_PUSHGATEWAY_URL", raising=False)
    yield pg_settings


def test_clean_raw_passes_every_check_and_records_results(pg_settings: Settings) -> None:
    load_raw(pg_settings, clean())
    report = run_layer(pg_settings, "raw", "run-1")
    failed = [r.message for r in report.results if not r.passed]
    assert failed == []
    assert report.passed and len(report.results) > 80
    by = _by_key(report.results)
    assert by[("raw.orders", "row_count_vs_source")].observed == 0
    assert by[("raw.orders", "orders_without_items")].observed == 0
    with connect(pg_settings, Role.READER) as conn:
        n, passed = conn.execute(
            "SELECT count(*), bool_and(passed) FROM audit.dq_results"
            " WHERE run_id = 'run-1' AND layer = 'raw'"
        ).fetchone() or (0, False)
        step = conn.execute(
            "SELECT status FROM audit.step_runs WHERE run_id = 'run-1' AND step = 'dq.raw'"
        ).fetchone()
    assert n == len(report.results) and passed
    assert step == ("succeeded",)
    # A re-run with the same run id replaces the layer's rows.
    run_layer(pg_settings, "raw", "run-1")
    with connect(pg_settings, Role.READER) as conn:
        again = conn.execute(
            "SELECT count(*) FROM audit.dq_results WHERE run_id = 'run-1' AND layer = 'raw'"
        ).fetchone()
    assert again == (n,)


def test_each_quirk_is_reported_by_its_check_with_the_right_count(pg_settings: Settings) -> None:
    load_raw(pg_settings, quirky())
    report = run_layer(pg_settings, "raw", "run-q")
    by = _by_key(report.results)
    observed = {key: int(by[key].observed or 0) for key in QUIRKS}
    assert observed == QUIRKS
    for key in QUIRKS:
        assert not by[key].passed and by[key].severity is Severity.WARN, key
    # Quirks alert but do not close the gate.
    assert report.passed, [r.message for r in report.blocking]
    # Quirks that were not switched on stay at zero.
    for key in (
        ("raw.orders", "approved_before_purchase"),
        ("raw.orders", "delivered_before_carrier"),
    ):
        assert by[key].observed == 0
    assert "pc_gamer" in (by[("raw.products", "untranslated_categories")].detail or "")


def test_rows_dropped_from_raw_after_the_load_close_the_gate(
    cli_env: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    batches = load_raw(cli_env, clean())
    with connect(cli_env, Role.LOADER) as conn:
        conn.execute(
            "DELETE FROM raw.order_items WHERE _batch_id = %s AND _row_number <= 2",
            (batches["order_items"],),
        )
    assert main(["dq", "run", "--layer", "raw", "--run-id", "run-1"]) == 4
    err = capsys.readouterr().err
    assert (
        "raw.order_items: row_count_vs_source failed: 2 source records unaccounted for "
        "(expected 0); source records 6 vs raw rows + quarantined 4"
    ) in err


def test_a_wrong_raw_column_type_fails_the_schema_check(pg_settings: Settings) -> None:
    with connect(pg_settings, Role.LOADER) as conn:
        conn.execute("ALTER TABLE raw.sellers ALTER COLUMN seller_zip_code_prefix TYPE integer"
                     " USING seller_zip_code_prefix::integer")  # fmt: skip
    load_raw(pg_settings, clean())
    report = run_layer(pg_settings, "raw", "run-1")
    schema = _by_key(report.results)[("raw.sellers", "schema")]
    assert schema.blocking
    assert schema.message == (
        "raw.sellers: schema failed: 1 column problems (expected 0); "
        "seller_zip_code_prefix is integer (expected text)"
    )


def _staged(settings: Settings) -> None:
    data = clean()
    load_raw(settings, data)
    load_staging(settings, data)


def test_clean_staging_passes_every_check(pg_settings: Settings) -> None:
    _staged(pg_settings)
    report = run_layer(pg_settings, "staging", "run-1")
    assert [r.message for r in report.results if not r.passed] == []
    by = _by_key(report.results)
    assert by[("staging.order_payments", "money(payment_value)_vs_raw")].observed == 0


def test_duplicated_keys_in_staging_close_the_gate(
    cli_env: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    _staged(cli_env)
    with connect(cli_env, Role.TRANSFORMER) as conn:
        # A swapped-in table built without its constraint, holding a key twice.
        conn.execute("ALTER TABLE staging.orders DROP CONSTRAINT orders_pkey")
        conn.execute(
            "INSERT INTO staging.orders SELECT * FROM staging.orders WHERE order_id IN (%s, %s)",
            (hid("order1"), hid("order2")),
        )
    assert main(["dq", "run", "--layer", "staging", "--run-id", "run-1"]) == 4
    err = capsys.readouterr().err
    assert "staging.orders: unique(order_id) failed: 2 duplicate keys (expected 0)" in err
    assert "staging.orders: row_count_vs_raw failed: 2 rows unaccounted for" in err


def test_an_orphan_item_and_a_wrong_type_close_the_gate(
    cli_env: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    _staged(cli_env)
    with connect(cli_env, Role.TRANSFORMER) as conn:
        conn.execute(
            "INSERT INTO staging.order_items (order_id, order_item_id, product_id, seller_id,"
            " price, freight_value, _batch_id, _row_number)"
            " SELECT %s, 1, product_id, seller_id, 0, 0, _batch_id, 99"
            " FROM staging.order_items LIMIT 1",
            (hid("ghost-order"),),
        )
        conn.execute("ALTER TABLE staging.order_payments ALTER COLUMN payment_value TYPE text")
    assert main(["dq", "run", "--layer", "staging", "--run-id", "run-1"]) == 4
    out, err = capsys.readouterr()
    assert (
        "staging.order_items: relationship(order_id->staging.orders) failed: 1 orphan rows "
        f"(expected 0); e.g. {hid('ghost-order')}"
    ) in err
    assert (
        "staging.order_payments: schema failed: 1 column problems (expected 0); "
        "payment_value is text (expected numeric)"
    ) in err
    # The summary table is on stdout, failures first.
    assert "data quality: layer staging" in out and "FAIL" in out


def test_money_that_does_not_reconcile_closes_the_gate(pg_settings: Settings) -> None:
    _staged(pg_settings)
    with connect(pg_settings, Role.TRANSFORMER) as conn:
        conn.execute(
            "UPDATE staging.order_payments SET payment_value = payment_value + 4.56"
            " WHERE order_id = %s",
            (hid("order1"),),
        )
    report = run_layer(pg_settings, "staging", "run-1")
    money = _by_key(report.results)[("staging.order_payments", "money(payment_value)_vs_raw")]
    assert money.blocking and money.observed == Decimal("4.56")
    assert money.message.startswith(
        "staging.order_payments: money(payment_value)_vs_raw failed: 4.56 difference in "
        "sum(payment_value) (expected 0 +/- 0.005); staging "
    )


def test_missing_tables_fail_as_errors_not_crashes(pg_settings: Settings) -> None:
    with connect(pg_settings, Role.TRANSFORMER) as conn:
        conn.execute("DROP TABLE marts.state_popularity")
    report = run_layer(pg_settings, "marts", "run-1")
    by = _by_key(report.results)
    assert by[("marts.state_popularity", "row_count")].message.startswith(
        "marts.state_popularity: row_count failed: could not run: relation"
    )
    assert not report.passed


def test_every_declared_check_runs_against_the_migrated_schema(pg_settings: Settings) -> None:
    """Each check's SQL is valid for the tables the other areas' migrations create."""
    for layer in ("raw", "staging", "warehouse", "marts"):
        report = run_layer(pg_settings, layer, "run-empty")
        broken = [r.message for r in report.results if r.observed is None and r.name != "freshness"]
        assert broken == [], layer
        # Empty layers close the gate (row_count), they do not crash it.
        assert not report.passed
