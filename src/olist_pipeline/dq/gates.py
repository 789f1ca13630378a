"""Run a layer's checks: query, judge, record, publish, report.

Each result goes to ``audit.dq_results`` (replacing this run's rows for the
layer, so a re-run is idempotent), to the JSON log (one ``dq_check`` record
per check) and to Prometheus: the gauges are set on a fresh registry and
pushed to the Pushgateway when ``OLIST_PUSHGATEWAY_URL`` is set (batch runs
have no process left to scrape).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import psycopg
from prometheus_client import CollectorRegistry

from olist_pipeline.config import Role, Settings
from olist_pipeline.db import audit, connect
from olist_pipeline.dq.model import Check, CheckResult, error_result, result_for
from olist_pipeline.dq.suites import Scope, suite
from olist_pipeline.logs import get_logger
from olist_pipeline.metrics.metrics import metric
from olist_pipeline.metrics.push import push_if_configured

log = get_logger(__name__)

PUSH_JOB = "olist_dq"
STATEMENT_TIMEOUT_MS = 15 * 60 * 1000


@dataclass(frozen=True)
class LayerReport:
    layer: str
    run_id: str
    results: tuple[CheckResult, ...]
    seconds: float
    pushed: bool = False

    @property
    def blocking(self) -> list[CheckResult]:
        return [r for r in self.results if r.blocking]

    @property
    def warnings(self) -> list[CheckResult]:
        return [r for r in self.results if not r.passed and not r.blocking]

    @property
    def passed(self) -> bool:
        return not self.blocking


def run_checks(conn: psycopg.Connection[Any], checks: Sequence[Check]) -> list[CheckResult]:
    """Run each check on an autocommit connection; one failing query spoils nothing else."""
    results: list[CheckResult] = []
    for check in checks:
        t0 = time.monotonic()
        try:
            row = conn.execute(check.sql.encode()).fetchone()
        except psycopg.Error as exc:
            primary = exc.diag.message_primary or str(exc).splitlines()[0]
            results.append(error_result(check, primary))
            continue
        observed = None if row is None or row[0] is None else Decimal(row[0])
        detail = None if row is None or row[1] is None else str(row[1])
        if observed is None and check.name == "freshness":
            detail = "the table is empty"
        result = result_for(check, observed, detail)
        results.append(result)
        log.debug("dq_check_timing", check=check.name, table=check.table, s=time.monotonic() - t0)
    return results


def discover_scope(conn: psycopg.Connection[Any], run_id: str) -> Scope:
    """The raw batches this run loaded, per table, when the ingest recorded them."""
    from olist_pipeline.dq.reconcile_sources import run_batches

    return Scope(raw_batches=run_batches(conn, run_id), run_id=run_id)


def record(
    conn: psycopg.Connection[Any], run_id: str, layer: str, results: Sequence[CheckResult]
) -> None:
    with conn.transaction():
        conn.execute(
            "DELETE FROM audit.dq_results WHERE run_id = %s AND layer = %s", (run_id, layer)
        )
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO audit.dq_results (run_id, layer, table_name, check_name, severity,"
                " observed, expected, passed, message) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
                [
                    (
                        run_id,
                        layer,
                        r.table,
                        r.name,
                        r.severity.value,
                        r.observed,
                        r.check.expected_text,
                        r.passed,
                        r.message,
                    )
                    for r in results
                ],
            )


def _step_run(
    conn: psycopg.Connection[Any], run_id: str, layer: str, report_: LayerReport | None
) -> None:
    step = f"dq.{layer}"
    if report_ is None:
        audit.step_started(conn, run_id, step)
        return
    detail = {
        "checks": len(report_.results),
        "failed_errors": len(report_.blocking),
        "failed_warnings": len(report_.warnings),
    }
    audit.step_finished(
        conn,
        run_id,
        step,
        "succeeded" if report_.passed else "failed",
        rows_out=len(report_.results),
        detail=detail,
    )


def log_results(results: Sequence[CheckResult], run_id: str) -> None:
    for r in results:
        fields = {
            "run_id": run_id,
            "layer": r.layer,
            "table": r.table,
            "check": r.name,
            "severity": r.severity.value,
            "observed": float(r.observed) if r.observed is not None else None,
            "expected": r.check.expected_text,
            "passed": r.passed,
            "message": r.message,
        }
        if r.passed:
            log.info("dq_check", **fields)
        elif r.blocking:
            log.error("dq_check", **fields)
        else:
            log.warning("dq_check", **fields)


def metrics_registry(layer: str, results: Sequence[CheckResult], now: float) -> CollectorRegistry:
    # A registry of this run's own (metrics.metric keys by the registry object, so a
    # new one never sees an earlier run's gauges).
    registry = CollectorRegistry()
    passed = metric("olist_dq_check_passed", registry)
    observed = metric("olist_dq_check_observed", registry)
    for r in results:
        passed.labels(r.layer, r.table, r.name, r.severity.value).set(1 if r.passed else 0)
        if r.observed is not None:
            observed.labels(r.layer, r.table, r.name).set(float(r.observed))
    metric("olist_dq_last_run_timestamp_seconds", registry).labels(layer).set(now)
    return registry


def run_layer(settings: Settings, layer: str, run_id: str) -> LayerReport:
    """Run, record and publish every check of ``layer``; the caller decides the exit code."""
    t0 = time.monotonic()
    with connect(settings, Role.QUALITY, autocommit=True) as conn:
        conn.execute(f"SET statement_timeout = {STATEMENT_TIMEOUT_MS}")
        _step_run(conn, run_id, layer, None)
        try:
            checks = suite(layer, discover_scope(conn, run_id))
            results = run_checks(conn, checks)
            record(conn, run_id, layer, results)
        except BaseException:
            # Best effort: the original error is what the caller must see.
            with contextlib.suppress(psycopg.Error):
                audit.step_finished(conn, run_id, f"dq.{layer}", "failed")
            raise
        report_ = LayerReport(layer, run_id, tuple(results), time.monotonic() - t0)
        _step_run(conn, run_id, layer, report_)
    log_results(results, run_id)
    registry = metrics_registry(layer, results, time.time())
    pushed = push_if_configured(settings, registry, PUSH_JOB, {"layer": layer})
    log.info(
        "dq_run",
        run_id=run_id,
        layer=layer,
        checks=len(results),
        failed_errors=len(report_.blocking),
        failed_warnings=len(report_.warnings),
        seconds=round(report_.seconds, 2),
        pushed=pushed,
    )
    return LayerReport(layer, run_id, tuple(results), report_.seconds, pushed)
