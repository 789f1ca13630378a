"""Batch metrics from the audit tables, pushed to the Pushgateway.

Batch steps are short-lived processes that Prometheus cannot scrape, so their
metrics are rebuilt from what they recorded in PostgreSQL (``audit.step_runs``,
``audit.batches``, ``audit.dq_results``, ``audit.parity_results``) and pushed.
Each group is a complete snapshot that replaces the previous push of the same
group (HTTP PUT), so publishing twice changes nothing:

- job ``olist_batch``: every step's last duration, last success and last
  failure time, failure count; raw rows per table; ingested rows by outcome.
- job ``olist_dq``, grouping ``layer``: the run's checks of that layer (the same
  group ``olist dq run`` pushes itself at step end).
- job ``olist_parity``: the run's parity result (as ``olist dq parity`` pushes).

Tables that do not exist yet are skipped, so this works on any migration level.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest

from olist_pipeline.config import Role, Settings, Target
from olist_pipeline.errors import UsageError
from olist_pipeline.logs import get_logger
from olist_pipeline.metrics.metrics import metric
from olist_pipeline.metrics.push import push as push_group

log = get_logger(__name__)

BATCH_JOB = "olist_batch"
DQ_JOB = "olist_dq"  # same job and grouping as dq.gates
PARITY_JOB = "olist_parity"  # same job as dq.parity
AUDIT_TABLES = ("audit.step_runs", "audit.batches", "audit.dq_results", "audit.parity_results")


class PushgatewayError(UsageError):
    """The Pushgateway is not configured or not reachable; the message names the fix."""


@dataclass
class Push:
    job: str
    grouping: dict[str, str]
    registry: CollectorRegistry
    series: int = 0


@dataclass
class Publication:
    run_id: str
    pushes: list[Push] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    url: str | None = None
    pushed: bool = True

    def as_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "url": self.url,
            "pushed": self.pushed,
            "groups": [
                {"job": p.job, "grouping": p.grouping, "series": p.series} for p in self.pushes
            ],
            "skipped": self.skipped,
        }

    def exposition(self) -> str:
        return "".join(
            f"# group job={p.job} {p.grouping}\n" + generate_latest(p.registry).decode()
            for p in self.pushes
        )


def pushgateway_url(settings: Settings) -> str:
    """OLIST_PUSHGATEWAY_URL, or on the local target the local Pushgateway."""
    if settings.pushgateway_url:
        return settings.pushgateway_url
    if settings.target is Target.LOCAL:
        return f"http://127.0.0.1:{settings.local.pushgateway_port}"
    raise PushgatewayError(
        "OLIST_PUSHGATEWAY_URL is not set; on the cluster the chart sets it for batch pods."
    )


def _reachable(url: str) -> bool:
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(f"{url.rstrip('/')}/-/ready", timeout=3) as resp:  # noqa: S310
            return 200 <= int(resp.status) < 300
    except (urllib.error.URLError, OSError, ValueError):
        return False


def _ts(value: datetime | None) -> float | None:
    return value.timestamp() if value is not None else None


def _exists(conn: Any, table: str) -> bool:
    return conn.execute("SELECT to_regclass(%s) IS NOT NULL", (table,)).fetchone()[0] is True


def _count(registry: CollectorRegistry) -> int:
    return sum(len(m.samples) for m in registry.collect())


def _steps(conn: Any) -> CollectorRegistry | None:
    """Every step ever recorded: a complete snapshot, independent of the run id."""
    rows = conn.execute(
        """
        WITH latest AS (
            SELECT DISTINCT ON (step) step,
                   extract(epoch FROM finished_at - started_at) AS seconds
              FROM audit.step_runs
             WHERE finished_at IS NOT NULL
             ORDER BY step, finished_at DESC
        )
        SELECT s.step,
               max(s.finished_at) FILTER (WHERE s.status = 'succeeded') AS last_success,
               max(s.finished_at) FILTER (WHERE s.status = 'failed')    AS last_failure,
               count(*) FILTER (WHERE s.status = 'failed')              AS failures,
               max(l.seconds)                                           AS seconds
          FROM audit.step_runs s
          LEFT JOIN latest l USING (step)
         GROUP BY s.step
         ORDER BY s.step
        """
    ).fetchall()
    if not rows:
        return None
    registry = CollectorRegistry()
    duration = metric("olist_batch_step_duration_seconds", registry)
    success = metric("olist_batch_step_last_success_timestamp_seconds", registry)
    failure = metric("olist_batch_step_last_failure_timestamp_seconds", registry)
    failures = metric("olist_batch_step_failures_total", registry)
    for step, last_success, last_failure, n_failed, seconds in rows:
        # Every step gets its counter, at 0 too: a failure is then an increase.
        failures.labels(step).inc(int(n_failed))
        if seconds is not None:
            duration.labels(step).set(float(seconds))
        if last_success is not None:
            success.labels(step).set(_ts(last_success))
        if last_failure is not None:
            failure.labels(step).set(_ts(last_failure))
    return registry


def _ingest(conn: Any, registry: CollectorRegistry) -> bool:
    rows = conn.execute(
        """
        SELECT table_name,
               coalesce(sum(loaded_rows), 0)      AS loaded,
               coalesce(sum(quarantined_rows), 0) AS quarantined
          FROM audit.batches
         WHERE status = 'succeeded'
         GROUP BY table_name
         ORDER BY table_name
        """
    ).fetchall()
    if not rows:
        return False
    ingested = metric("olist_ingest_rows_total", registry)
    raw_rows = metric("olist_batch_rows", registry)
    for table, loaded, quarantined in rows:
        ingested.labels(table, "loaded").inc(int(loaded))
        ingested.labels(table, "quarantined").inc(int(quarantined))
        # Raw is append-only across batches: its rows are the loaded rows.
        raw_rows.labels("raw", table).set(int(loaded))
    return True


def _dq(conn: Any, run_id: str) -> dict[str, CollectorRegistry]:
    rows = conn.execute(
        """
        SELECT layer, table_name, check_name, severity, passed, observed, checked_at
          FROM audit.dq_results
         WHERE run_id = %s
         ORDER BY layer, table_name, check_name
        """,
        (run_id,),
    ).fetchall()
    by_layer: dict[str, CollectorRegistry] = {}
    last_run: dict[str, float] = {}
    for layer, table, check, severity, passed, observed, checked_at in rows:
        registry = by_layer.setdefault(layer, CollectorRegistry())
        metric("olist_dq_check_passed", registry).labels(layer, table, check, severity).set(
            1 if passed else 0
        )
        if observed is not None:
            metric("olist_dq_check_observed", registry).labels(layer, table, check).set(
                float(observed)
            )
        last_run[layer] = max(last_run.get(layer, 0.0), checked_at.timestamp())
    for layer, registry in by_layer.items():
        metric("olist_dq_last_run_timestamp_seconds", registry).labels(layer).set(last_run[layer])
    return by_layer


def _parity(conn: Any, run_id: str) -> CollectorRegistry | None:
    row = conn.execute(
        """
        SELECT count(*),
               coalesce(bool_and(passed), true),
               count(DISTINCT day) FILTER (WHERE NOT passed),
               coalesce(max(relative_diff), 0)
          FROM audit.parity_results
         WHERE run_id = %s
        """,
        (run_id,),
    ).fetchone()
    n, passed, days_failed, max_diff = row
    if not n:
        return None
    registry = CollectorRegistry()
    metric("olist_parity_passed", registry).set(1 if passed else 0)
    metric("olist_parity_days_failed", registry).set(int(days_failed))
    metric("olist_parity_max_relative_diff", registry).set(float(max_diff))
    return registry


def collect(settings: Settings, run_id: str) -> Publication:
    """Build every group from the audit tables (nothing is pushed)."""
    from olist_pipeline.db import connect

    pub = Publication(run_id)
    with connect(settings, Role.READER, autocommit=True) as conn:
        present = {t: _exists(conn, t) for t in AUDIT_TABLES}
        pub.skipped = [t for t, ok in present.items() if not ok]
        steps = _steps(conn) if present["audit.step_runs"] else None
        batch = steps or CollectorRegistry()
        ingested = present["audit.batches"] and _ingest(conn, batch)
        if steps is not None or ingested:
            pub.pushes.append(Push(BATCH_JOB, {}, batch))
        dq = _dq(conn, run_id) if present["audit.dq_results"] else {}
        for layer, registry in sorted(dq.items()):
            pub.pushes.append(Push(DQ_JOB, {"layer": layer}, registry))
        parity = _parity(conn, run_id) if present["audit.parity_results"] else None
        if parity is not None:
            pub.pushes.append(Push(PARITY_JOB, {}, parity))
    for p in pub.pushes:
        p.series = _count(p.registry)
    return pub


Pusher = Callable[..., None]


def _push(
    url: str, *, job: str, registry: CollectorRegistry, grouping_key: dict[str, str], timeout: float
) -> None:
    push_group(url, job, registry, grouping_key, timeout=timeout)


def publish(
    settings: Settings,
    run_id: str,
    *,
    url: str | None = None,
    pusher: Pusher | None = None,
) -> Publication:
    """Collect and push every group; raises PushgatewayError when the push fails."""
    from prometheus_client import disable_created_metrics

    # A pushed counter's `_created` would be the publishing process's start,
    # new on every push: noise, and it would make re-publishing change data.
    disable_created_metrics()  # type: ignore[no-untyped-call]
    target = url or pushgateway_url(settings)
    push = pusher or _push
    pub = collect(settings, run_id)
    pub.url = target
    if url is None and not settings.pushgateway_url and not _reachable(target):
        # Only the implicit local default, and monitoring is not running
        # (`make run` without `make monitor`): nothing to push to, not an error.
        pub.pushed = False
        log.warning(
            "metrics_not_published",
            reason="no Pushgateway running; start it with `olist stack up monitor`",
            **pub.as_dict(),
        )
        return pub
    for p in pub.pushes:
        try:
            push(target, job=p.job, registry=p.registry, grouping_key=p.grouping, timeout=10)
        except OSError as exc:
            raise PushgatewayError(
                f"cannot push to the Pushgateway at {target} ({exc}); start the local one "
                "with `olist stack up monitor` (or `make monitor`), or set OLIST_PUSHGATEWAY_URL"
            ) from exc
    log.info("metrics_published", **pub.as_dict())
    return pub
