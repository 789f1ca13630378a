"""Airflow callbacks: log every failure and retry, count failures on the Pushgateway.

A task failure increments ``olist_airflow_task_failures_total{dag_id,task_id}``;
a successful DAG run sets ``olist_airflow_dag_last_success_timestamp_seconds``.
Both are pushed when ``OLIST_PUSHGATEWAY_URL`` is set (short-lived task
processes cannot be scraped). The Pushgateway keeps the last pushed value, so
the counter is read back and pushed incremented: it stays monotonic across
task processes. A callback never raises: monitoring trouble must not hide
the task's own error.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from typing import Any

from olist_pipeline import config
from olist_pipeline.logs import get_logger
from olist_pipeline.metrics import push

log = get_logger("olist.airflow")

PUSH_JOB = "olist_airflow"
FAILURES = "olist_airflow_task_failures_total"
LAST_SUCCESS = "olist_airflow_dag_last_success_timestamp_seconds"


def _ids(context: Mapping[str, Any]) -> dict[str, Any]:
    ti = context.get("ti") or context.get("task_instance")
    return {
        "dag_id": getattr(ti, "dag_id", None) or getattr(context.get("dag"), "dag_id", None),
        "task_id": getattr(ti, "task_id", None),
        "run_id": context.get("run_id"),
        "try_number": getattr(ti, "try_number", None),
    }


def _pushgateway_url() -> str | None:
    return config.pushgateway_url(os.environ)


def count_task_failure(dag_id: str, task_id: str, url: str | None = None) -> float | None:
    """Increment the failure counter on the Pushgateway; returns the new value (None: no URL)."""
    from prometheus_client import CollectorRegistry

    from olist_pipeline.metrics.metrics import metric

    url = url or _pushgateway_url()
    if not url:
        return None
    labels = {"dag_id": dag_id, "task_id": task_id}
    new = push.current_value(url, FAILURES, {**labels, "job": PUSH_JOB}) + 1
    registry = CollectorRegistry()
    metric(FAILURES, registry).labels(**labels).inc(new)
    push.push(url, PUSH_JOB, registry, labels, timeout=5)
    return new


def mark_dag_success(dag_id: str, url: str | None = None) -> float | None:
    from prometheus_client import CollectorRegistry

    from olist_pipeline.metrics.metrics import metric

    url = url or _pushgateway_url()
    if not url:
        return None
    now = time.time()
    registry = CollectorRegistry()
    metric(LAST_SUCCESS, registry).labels(dag_id=dag_id).set(now)
    push.push(url, PUSH_JOB, registry, {"dag_id": dag_id}, timeout=5)
    return now


def on_task_failure(context: Mapping[str, Any]) -> None:
    """Task failed for good (retries exhausted or a non-retryable error)."""
    ids = _ids(context)
    log.error("airflow_task_failed", error=str(context.get("exception") or ""), **ids)
    try:
        count = count_task_failure(str(ids["dag_id"]), str(ids["task_id"]))
        if count is not None:
            log.info("airflow_task_failure_counted", failures_total=count, **ids)
    except Exception as exc:  # monitoring must not mask the task's own failure
        log.warning("airflow_failure_metric_not_pushed", error=str(exc), **ids)


def on_task_retry(context: Mapping[str, Any]) -> None:
    ids = _ids(context)
    log.warning("airflow_task_retry", error=str(context.get("exception") or ""), **ids)


def on_dag_success(context: Mapping[str, Any]) -> None:
    dag = context.get("dag")
    dag_id = str(getattr(dag, "dag_id", "") or _ids(context)["dag_id"])
    log.info("airflow_dag_succeeded", dag_id=dag_id, run_id=context.get("run_id"))
    try:
        mark_dag_success(dag_id)
    except Exception as exc:
        log.warning("airflow_success_metric_not_pushed", error=str(exc), dag_id=dag_id)


def on_dag_failure(context: Mapping[str, Any]) -> None:
    dag = context.get("dag")
    log.error(
        "airflow_dag_failed",
        dag_id=getattr(dag, "dag_id", None),
        run_id=context.get("run_id"),
        reason=str(context.get("reason") or ""),
    )
