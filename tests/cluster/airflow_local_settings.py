"""Airflow local settings of the cluster tier's DAG runs (never of the product).

``tests/cluster/test_dag_run.py`` copies this file to ``<AIRFLOW_HOME>/config/``,
where Airflow imports it at start-up. Its ``pod_mutation_hook`` runs on every
pod KubernetesPodOperator builds, after our DAG rendered it: it labels the pods
of one task of one run ``olist.io/simulate-exit=failed``, the label on which the
simulated node's kwok stages end a pod as Failed (exit code 1) instead of
Succeeded. Every other pod is left exactly as the DAG built it.
"""

from __future__ import annotations

from typing import Any

# What Airflow imports from this module (import_local_settings honours __all__).
__all__ = ["pod_mutation_hook"]

# The task made to fail, and the run (its --run-id, in the pod's arguments) it fails in.
FAILING_TASK = "ingest_orders"
FAILING_RUN = "cluster-tier-failing"
SIMULATE_EXIT_LABEL = "olist.io/simulate-exit"


def pod_mutation_hook(pod: Any) -> None:
    labels = pod.metadata.labels or {}
    args = pod.spec.containers[0].args or []
    if labels.get("task_id") == FAILING_TASK and FAILING_RUN in args:
        pod.metadata.labels = {**labels, SIMULATE_EXIT_LABEL: "failed"}
