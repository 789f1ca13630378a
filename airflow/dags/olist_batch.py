"""Airflow DAG olist_batch: the daily batch (ingest, staging, warehouse, marts, gated).

A declaration only: the steps, commands, dependencies and retries live in
olist_pipeline.airflow.definition.BATCH, and the operators (local or
Kubernetes, chosen by OLIST_ENV) in olist_pipeline.airflow.dags.
"""

from olist_pipeline.airflow.dags import build_dag
from olist_pipeline.airflow.definition import BATCH

dag = build_dag(BATCH)
