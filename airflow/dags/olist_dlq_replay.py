"""Airflow DAG olist_dlq_replay: manual replay of the dead-letter topics.

A declaration only: the steps, commands, dependencies and retries live in
olist_pipeline.airflow.definition.DLQ_REPLAY, and the operators (local or
Kubernetes, chosen by OLIST_ENV) in olist_pipeline.airflow.dags.
"""

from olist_pipeline.airflow.dags import build_dag
from olist_pipeline.airflow.definition import DLQ_REPLAY

dag = build_dag(DLQ_REPLAY)
