"""Render the Kubernetes target's objects offline: pod specs and SparkApplication bodies.

No cluster and no Airflow database: each task's templates are rendered with
a minimal run context, then the operator builds what it would submit
(``build_pod_request_obj(dry_run=True)`` for pods, the rendered template
for SparkApplications). Used by the DAG tests (schema validation) and by
``olist airflow render`` to review what a run would launch.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

from olist_pipeline.airflow.definition import Kind, Pipeline
from olist_pipeline.config import Target

# The scheduled run of the data interval [2026-01-01, 2026-01-02) of a daily DAG.
EXAMPLE_INTERVAL_START = datetime(2026, 1, 1, tzinfo=UTC)
EXAMPLE_RUN_ID = f"scheduled__{EXAMPLE_INTERVAL_START.isoformat()}"


@dataclass(frozen=True)
class Rendered:
    task_id: str
    kind: Kind
    manifest: dict[str, Any]  # a v1 Pod or a sparkoperator.k8s.io/v1beta2 SparkApplication


def _context(
    dag: Any, task: Any, run_id: str, conf: dict[str, Any], start: datetime
) -> dict[str, Any]:
    params = {**dag.params.dump(), **conf}
    ti = SimpleNamespace(
        dag_id=dag.dag_id, task_id=task.task_id, try_number=1, map_index=-1, run_id=run_id
    )
    return {
        "dag": dag,
        "task": task,
        "ti": ti,
        "task_instance": ti,
        "run_id": run_id,
        "params": params,
        "ds": start.strftime("%Y-%m-%d"),
        "logical_date": start,
        "data_interval_start": start,
        "data_interval_end": start + timedelta(days=1),
    }


def render_kind(
    pipeline: Pipeline,
    run_id: str = EXAMPLE_RUN_ID,
    conf: dict[str, Any] | None = None,
    interval_start: datetime = EXAMPLE_INTERVAL_START,
) -> list[Rendered]:
    """Every task of ``pipeline`` as the Kubernetes object the kind target submits.

    Templates see the run of the daily interval starting at ``interval_start``.
    """
    from kubernetes.client import ApiClient

    from olist_pipeline.airflow.dags import build_dag

    dag = build_dag(pipeline, Target.KIND)
    api = ApiClient()
    out: list[Rendered] = []
    for step in pipeline.steps:
        task = dag.get_task(step.task_id)
        context = _context(dag, task, run_id, conf or {}, interval_start)
        task.render_template_fields(context)
        if step.kind is Kind.SPARK:
            body = task.manage_template_specs()["spark"]
        else:
            pod = task.build_pod_request_obj(context, dry_run=True)
            body = api.sanitize_for_serialization(pod)
        out.append(Rendered(step.task_id, step.kind, body))
    return out
