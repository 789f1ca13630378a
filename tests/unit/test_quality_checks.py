"""Declared checks, their wording and the parity comparison, without a database."""

from __future__ import annotations

import io
from datetime import date
from decimal import Decimal

import pytest

from olist_pipeline.contracts.sources import CONTRACTS
from olist_pipeline.dq import checks as k
from olist_pipeline.dq.model import (
    LAYERS,
    Check,
    Op,
    Severity,
    error_result,
    ident,
    literal,
    result_for,
)
from olist_pipeline.dq.parity import ParityReport, compare
from olist_pipeline.dq.sql import raw_current
from olist_pipeline.dq.suites import Scope, suite


def _check(**kw: object) -> Check:
    base: dict[str, object] = {
        "layer": "staging",
        "table": "staging.orders",
        "name": "unique(order_id)",
        "severity": Severity.ERROR,
        "sql": "SELECT 0, NULL",
        "what": "duplicate keys",
    }
    base.update(kw)
    return Check(**base)  # type: ignore[arg-type]


def test_a_failure_message_names_table_check_and_counts() -> None:
    r = result_for(_check(), Decimal(3), None)
    assert not r.passed and r.blocking
    assert r.message == "staging.orders: unique(order_id) failed: 3 duplicate keys (expected 0)"


def test_warn_failures_do_not_block_and_passes_say_so() -> None:
    warn = result_for(_check(severity=Severity.WARN), Decimal(2), "e.g. x")
    assert not warn.passed and not warn.blocking
    assert warn.message.endswith("(expected 0); e.g. x")
    ok = result_for(_check(), Decimal(0), None)
    assert ok.passed and "passed: 0 duplicate keys" in ok.message


@pytest.mark.parametrize(
    ("op", "expected", "tolerance", "observed", "passes"),
    [
        (Op.EQ, 0, "0", "0", True),
        (Op.EQ, 0, "0.005", "0.004", True),
        (Op.EQ, 0, "0.005", "-0.01", False),
        (Op.GE, 1, "0", "0", False),
        (Op.GE, 1, "0", "5", True),
        (Op.LE, 86400, "0", "90000", False),
    ],
)
def test_comparisons(op: Op, expected: int, tolerance: str, observed: str, passes: bool) -> None:
    check = _check(op=op, expected=Decimal(expected), tolerance=Decimal(tolerance))
    assert check.evaluate(Decimal(observed)) is passes


def test_no_observation_fails_and_a_check_that_cannot_run_blocks() -> None:
    assert _check().evaluate(None) is False
    r = error_result(_check(), 'relation "staging.orders" does not exist')
    assert r.blocking
    assert r.message == (
        'staging.orders: unique(order_id) failed: could not run: relation "staging.orders" '
        "does not exist"
    )


def test_expected_text() -> None:
    assert _check(op=Op.GE, expected=Decimal(1)).expected_text == ">= 1"
    assert _check(tolerance=Decimal("0.005")).expected_text == "0 +/- 0.005"


def test_identifiers_and_literals_are_safe() -> None:
    assert ident("order_id") == '"order_id"'
    for bad in ('order"; DROP TABLE x; --', "Order", "1abc", ""):
        with pytest.raises(ValueError, match="not a plain identifier"):
            ident(bad)
    assert literal("d'oeste") == "'d''oeste'"


@pytest.mark.parametrize("layer", LAYERS)
def test_every_layer_declares_uniquely_named_checks(layer: str) -> None:
    checks = suite(layer)
    assert checks
    assert all(c.layer == layer for c in checks)
    assert all(c.sql.lstrip().upper().startswith(("SELECT", "WITH")) for c in checks)


def test_contract_derived_checks_cover_every_table() -> None:
    raw = {(c.table, c.name) for c in suite("raw")}
    staging = {(c.table, c.name) for c in suite("staging")}
    for contract in CONTRACTS:
        for name in ("schema", "row_count", "row_count_vs_source", "freshness"):
            assert (f"raw.{contract.table}", name) in raw, (contract.table, name)
        for name in ("schema", "row_count", "row_count_vs_raw", "not_null"):
            assert (f"staging.{contract.table}", name) in staging, (contract.table, name)
        if contract.primary_key:
            key = f"unique({','.join(contract.primary_key)})"
            assert (f"staging.{contract.table}", key) in staging
    assert ("staging.order_items", "relationship(order_id->staging.orders)") in staging


def test_known_quirks_have_named_warn_checks() -> None:
    quirks = {c.name: c for c in suite("raw") if c.quirk}
    for name in (
        "duplicate_review_ids",
        "orders_without_items",
        "not_defined_payments",
        "zero_payments",
        "carrier_before_purchase",
        "untranslated_categories",
        "out_of_country",
    ):
        assert quirks[name].severity is Severity.WARN


def test_raw_scope_limits_to_the_runs_batches() -> None:
    scope = Scope(raw_batches={"orders": ("orders-abc",)}, run_id="r1")
    assert "_batch_id IN ('orders-abc')" in scope.raw("orders")
    assert scope.raw("customers") == '"raw"."customers"'
    rid = [c for c in suite("raw", scope) if c.name == "row_count_vs_source"]
    orders = next(c for c in rid if c.table == "raw.orders")
    assert "batch_id IN ('orders-abc')" in orders.sql
    # Newest batch wins, as staging does it: by the data interval it holds, else its load time.
    current = raw_current("orders")
    assert "coalesce((SELECT b.data_interval_start FROM audit.batches b" in current
    assert "r._loaded_at) DESC, _batch_id DESC, _row_number)" in current


def test_schema_check_lists_accepted_types() -> None:
    check = k.schema("staging", "staging.orders", [("order_id", ("text",))], exact=True)
    assert "ARRAY['text']::text[]" in check.sql and "is not in the contract" in check.sql


def test_parity_compares_per_day_and_lists_missing_days() -> None:
    d1, d2, d3 = date(2018, 1, 1), date(2018, 1, 2), date(2018, 1, 3)
    batch = [
        (d1, "orders:total", Decimal(2)),
        (d2, "orders:total", Decimal(1)),
        (d3, "orders:total", Decimal(4)),
        (d3, "payments:sum", Decimal("10.50")),
    ]
    stream = [
        (d1, "orders:total", Decimal(2)),
        (d3, "orders:total", Decimal(4)),
        (d3, "payments:sum", Decimal("10.50")),
    ]
    rows, first, last = compare(batch, stream, 0.0)
    assert (first, last) == (d1, d3)
    report = ParityReport("r", 0.0, tuple(rows), first, last)
    assert report.failed_days == [d2]
    assert report.message() == (
        "parity failed on 1 of 3 days (2018-01-01..2018-01-03, tolerance 0): "
        "2018-01-02 (orders:total batch 1 vs stream 0)"
    )
    assert report.max_relative_diff == 1.0
    # Outside the stream's span nothing is compared unless asked for.
    rows, _, _ = compare([*batch, (date(2019, 1, 1), "orders:total", Decimal(9))], stream, 0.0)
    assert {r.day for r in rows} == {d1, d2, d3}


def test_parity_tolerance_is_relative_to_the_larger_side() -> None:
    rows, _, _ = compare(
        [(date(2018, 1, 1), "payments:sum", Decimal(100))],
        [(date(2018, 1, 1), "payments:sum", Decimal(99))],
        0.01,
    )
    assert rows[0].relative_diff == pytest.approx(0.01) and rows[0].passed
    assert not ParityReport("r", 0.0, (), None, None).passed


def test_summary_table_renders(monkeypatch: pytest.MonkeyPatch) -> None:
    from olist_pipeline.dq.gates import LayerReport
    from olist_pipeline.dq.report import print_layer

    results = (
        result_for(_check(), Decimal(3), "e.g. abc"),
        result_for(_check(name="row_count", what="rows", op=Op.GE, expected=Decimal(1)),
                   Decimal(10), None),
    )  # fmt: skip
    out = io.StringIO()
    print_layer(LayerReport("staging", "r1", results, 0.5), file=out)
    text = out.getvalue()
    assert "FAIL" in text and "unique(order_id)" in text
    assert "2 checks, 1 passed, 0 warnings, 1 errors" in text and "gate CLOSED" in text


def test_parity_totals_only_ignores_lifecycle_stages() -> None:
    d = date(2018, 1, 1)
    batch = [(d, "orders:total", Decimal(1)), (d, "orders:delivered", Decimal(1))]
    stream = [(d, "orders:total", Decimal(1)), (d, "orders:shipped", Decimal(1))]
    assert not ParityReport("r", 0.0, tuple(compare(batch, stream, 0.0)[0]), d, d).passed
    rows, _, _ = compare(batch, stream, 0.0, totals_only=True)
    assert [r.measure for r in rows] == ["orders:total"] and rows[0].passed
