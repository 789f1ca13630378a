"""What a check is and what a run of it produces.

A check is data: the table it guards, a name, a severity and one SQL query
that PostgreSQL answers with a single row ``(observed, detail)``. The query
runs where the data lives, so a check costs one scan (or an index lookup)
whatever the table's size; Python only compares ``observed`` with the
expectation and words the result.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from decimal import Decimal

LAYERS: tuple[str, ...] = ("raw", "staging", "warehouse", "marts")

_IDENT = re.compile(r"^[a-z_][a-z0-9_]*$")


class Severity(enum.StrEnum):
    ERROR = "error"  # a failure stops the run (exit code 4)
    WARN = "warn"  # a failure is reported and alerted on; the run goes on


class Op(enum.StrEnum):
    EQ = "=="
    LE = "<="
    GE = ">="

    def holds(self, observed: Decimal, expected: Decimal, tolerance: Decimal) -> bool:
        if self is Op.EQ:
            return abs(observed - expected) <= tolerance
        if self is Op.LE:
            return observed <= expected + tolerance
        return observed >= expected - tolerance


def ident(name: str) -> str:
    """A double-quoted identifier; names come from contracts and suites, never from users."""
    if not _IDENT.match(name):
        raise ValueError(f"not a plain identifier: {name!r}")
    return f'"{name}"'


def qualified(table: str) -> str:
    schema, _, name = table.partition(".")
    return f"{ident(schema)}.{ident(name)}"


def literal(value: str) -> str:
    """A SQL string literal (standard_conforming_strings is on in PostgreSQL >= 9.1)."""
    return "'" + value.replace("'", "''") + "'"


@dataclass(frozen=True)
class Check:
    """One declared check.

    Args:
        layer: raw, staging, warehouse or marts (the gate it belongs to).
        table: ``schema.table`` the check is about (named in every message).
        name: short and stable, e.g. ``unique(order_id)``; it is the metric label.
        severity: error stops the run, warn alerts.
        sql: a query returning one row ``(observed numeric, detail text or NULL)``.
        what: the noun for ``observed`` in messages, e.g. ``duplicate keys``.
        expected / op / tolerance: the check passes when ``observed op expected``
            holds within ``tolerance``.
    """

    layer: str
    table: str
    name: str
    severity: Severity
    sql: str
    what: str
    expected: Decimal = Decimal(0)
    op: Op = Op.EQ
    tolerance: Decimal = Decimal(0)
    quirk: bool = False  # a known Olist quirk: expected to fire on real data

    @property
    def expected_text(self) -> str:
        exp = fmt_number(self.expected)
        if self.op is Op.EQ:
            return exp if not self.tolerance else f"{exp} +/- {fmt_number(self.tolerance)}"
        return f"{self.op.value} {exp}"

    def evaluate(self, observed: Decimal | None) -> bool:
        if observed is None:
            return False
        return self.op.holds(observed, self.expected, self.tolerance)


@dataclass(frozen=True)
class CheckResult:
    check: Check
    observed: Decimal | None
    passed: bool
    message: str
    detail: str | None = None

    @property
    def layer(self) -> str:
        return self.check.layer

    @property
    def table(self) -> str:
        return self.check.table

    @property
    def name(self) -> str:
        return self.check.name

    @property
    def severity(self) -> Severity:
        return self.check.severity

    @property
    def blocking(self) -> bool:
        """A failed error-severity check: the gate closes."""
        return not self.passed and self.check.severity is Severity.ERROR


def fmt_number(value: Decimal | None) -> str:
    if value is None:
        return "nothing"
    if value == value.to_integral_value():
        return str(int(value))
    return f"{value:.2f}" if abs(value) >= 1 else f"{value.normalize():f}"


def message_for(check: Check, observed: Decimal | None, detail: str | None, passed: bool) -> str:
    """E.g. ``staging.orders: unique(order_id) failed: 3 duplicate keys (expected 0)``."""
    verdict = "passed" if passed else "failed"
    text = (
        f"{check.table}: {check.name} {verdict}: {fmt_number(observed)} {check.what} "
        f"(expected {check.expected_text})"
    )
    if detail:
        text += f"; {detail}"
    return text


def result_for(check: Check, observed: Decimal | None, detail: str | None) -> CheckResult:
    passed = check.evaluate(observed)
    return CheckResult(
        check, observed, passed, message_for(check, observed, detail, passed), detail
    )


def error_result(check: Check, error: str) -> CheckResult:
    """The check could not run (missing table or column...): it counts as failed."""
    msg = f"{check.table}: {check.name} failed: could not run: {error}"
    return CheckResult(check, None, False, msg, error)
