"""Airflow DAG olist_stream_parity: the periodic stream/batch parity check.

A declaration only: the steps, commands, dependencies and retries live in
olist_pipeline.airflow.definition.STREAM_PARITY, and the operators (local or
Kubernetes, chosen by OLIST_ENV) in olist_pipeline.airflow.dags.
"""

from olist_pipeline.airflow.dags import build_dag
from olist_pipeline.airflow.definition import STREAM_PARITY

dag = build_dag(STREAM_PARITY)
