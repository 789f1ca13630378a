"""Build Airflow DAGs from the pipeline definition, for either target.

``build_dag(pipeline)`` is all a DAG file calls. The target comes from
``OLIST_ENV`` (read from the environment, no I/O): ``local`` builds
PythonOperator tasks running ``olist`` commands, its Spark layers included
(``olist transform <layer>``, a client of the stack's Spark Connect server),
or, with OLIST_SPARK_CONNECT=false, SparkSubmitOperator tasks (master
``local[2]`` from the ``olist_spark_local`` connection);
``kind`` builds KubernetesPodOperator and SparkKubernetesOperator tasks.
Both variants share task ids, edges, retries and timeouts, because both are
read from the same ``Pipeline`` object.
"""

from __future__ import annotations

import os
import re
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from olist_pipeline import config
from olist_pipeline.airflow import callbacks, k8s
from olist_pipeline.airflow.definition import Kind, Pipeline, Step
from olist_pipeline.config import Target

SPARK_CONN_ID = "olist_spark_local"
# A fixed start date: a moving one (e.g. "now") makes the schedule unpredictable.
START_DATE = datetime(2026, 1, 1, tzinfo=UTC)
# DAGs that catch up on missed intervals start where the Olist data does (its first
# order is of 2016-09-04); OLIST_BATCH_START_DATE moves it to the first day you land.
CATCHUP_START_DATE = datetime(2016, 9, 1, tzinfo=UTC)


def project_root() -> Path:
    """The checkout holding spark-apps/ (OLIST_PROJECT_ROOT wins): path arithmetic only."""
    return config.dag_project_root(os.environ)


def target_from_env() -> Target:
    return config.target_of(os.environ)


def spark_templates_dir() -> Path:
    return config.dag_spark_templates_dir(os.environ)


def default_landing_dir(target: Target) -> str:
    """The landing folder of daily increments, as ``config.landing_dir`` resolves it."""
    return str(config.dag_landing_dir(os.environ, target))


def start_date(pipeline: Pipeline) -> datetime:
    if not pipeline.catchup:
        return START_DATE
    return config.dag_batch_start(os.environ) or CATCHUP_START_DATE


def schedule(pipeline: Pipeline) -> Any:
    """The pipeline's schedule; a cron with data intervals as CronDataIntervalTimetable."""
    if pipeline.schedule is None or not pipeline.data_intervals:
        return pipeline.schedule
    from airflow.sdk import CronDataIntervalTimetable

    return CronDataIntervalTimetable(pipeline.schedule, timezone="UTC")


# ---- macros: evaluated when a task renders its templates (run time) ----------


def _macro_python() -> str:
    return sys.executable


def _macro_path() -> str:
    return f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"


def _macro_jdbc_jar() -> str:
    # Found, not fetched: the local stack (`make jars`, `olist stack up`) fetches the jars.
    return str(config.load_settings().jdbc_jar())


MACROS: dict[str, Any] = {
    "olist_python": _macro_python,
    "olist_path": _macro_path,
    "olist_jdbc_jar": _macro_jdbc_jar,
}


# ---- tasks --------------------------------------------------------------------


def _common(step: Step) -> dict[str, Any]:
    return {
        "task_id": step.task_id,
        "doc_md": step.doc,
        "retries": step.retry.retries,
        # OLIST_AIRFLOW_RETRY_DELAY_SECONDS shortens only the delay (tests), never the count.
        "retry_delay": config.dag_retry_delay(os.environ) or step.retry.delay,
        "retry_exponential_backoff": step.retry.backoff,
        "max_retry_delay": step.retry.max_delay,
        "execution_timeout": step.timeout,
        "trigger_rule": step.trigger_rule,
        "on_failure_callback": callbacks.on_task_failure,
        "on_retry_callback": callbacks.on_task_retry,
    }


def _local_task(step: Step) -> Any:
    if step.kind is Kind.COMMAND:
        return _olist_task(step, step.argv)
    assert step.job is not None
    if config.spark_connect_enabled(os.environ, Target.LOCAL):
        # The layer is a thin client of the stack's warm Spark Connect server
        # (stack.spark_connect): no JVM of its own to start, as any olist command.
        return _olist_task(step, ("transform", step.job, *step.spark_argv))
    return _spark_submit_task(step)


def _olist_task(step: Step, argv: tuple[str, ...]) -> Any:
    from airflow.providers.standard.operators.python import PythonOperator

    from olist_pipeline.airflow.tasks import run_olist

    return PythonOperator(
        python_callable=run_olist,
        op_kwargs={
            "argv": list(argv),
            "ok_exit_codes": list(step.ok_exit_codes),
            "skip_exit_codes": list(step.skip_exit_codes),
        },
        **_common(step),
    )


def _spark_submit_task(step: Step) -> Any:
    from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator

    from olist_pipeline.transform import spark as spark_conf

    assert step.job is not None
    return SparkSubmitOperator(
        application=str(project_root() / "spark-apps" / f"{step.job}.py"),
        application_args=list(step.spark_argv),
        conn_id=SPARK_CONN_ID,
        name=f"olist-{step.job}",
        jars="{{ olist_jdbc_jar() }}",
        driver_memory=step.resources.driver_memory,
        conf={
            # Loopback only, no UI port: the local target never listens beyond 127.0.0.1.
            "spark.ui.enabled": "false",
            **spark_conf.NO_PROGRESS_BARS,
            **spark_conf.LOOPBACK_CONF,
            "spark.pyspark.python": "{{ olist_python() }}",
            "spark.pyspark.driver.python": "{{ olist_python() }}",
        },
        env_vars={
            "PATH": "{{ olist_path() }}",
            "PYSPARK_PYTHON": "{{ olist_python() }}",
            "SPARK_LOCAL_IP": "127.0.0.1",
        },
        **_common(step),
    )


def _dns_name(task_id: str) -> str:
    return "olist-" + re.sub(r"[^a-z0-9-]", "-", task_id.lower())


def _kind_task(step: Step) -> Any:
    from kubernetes.client import models as k

    if step.kind is Kind.SPARK:
        from airflow.providers.cncf.kubernetes.operators.spark_kubernetes import (
            SparkKubernetesOperator,
        )

        return SparkKubernetesOperator(
            application_file=f"{step.job}.yaml",
            namespace=k8s.SPARK_NAMESPACE,
            kubernetes_conn_id=k8s.KUBERNETES_CONN_ID,
            get_logs=True,
            log_events_on_failure=True,
            # reattach_on_restart (default True) finds the driver by its task labels.
            delete_on_termination=True,
            startup_timeout_seconds=600,
            **_common(step),
        )
    from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator

    r = step.resources
    # Settings come from the chart's ConfigMap, each login from its role's Secret:
    # a pod holds only the logins its step needs.
    env_from = [k.V1EnvFromSource(config_map_ref=k.V1ConfigMapEnvSource(name=k8s.ENV_CONFIGMAP))]
    env_from += [
        k.V1EnvFromSource(secret_ref=k.V1SecretEnvSource(name=k8s.role_secret(role)))
        for role in step.roles
    ]
    # Read-only root filesystem: scratch space on /tmp (OLIST_STATE_DIR=/tmp/olist).
    volumes = [
        k.V1Volume(name="tmp", empty_dir=k.V1EmptyDirVolumeSource(size_limit="256Mi")),
    ]
    mounts = [k.V1VolumeMount(name="tmp", mount_path="/tmp")]  # noqa: S108
    if step.needs_source_data:
        volumes.append(
            k.V1Volume(
                name="source-data",
                persistent_volume_claim=k.V1PersistentVolumeClaimVolumeSource(
                    claim_name=k8s.SOURCE_DATA_CLAIM, read_only=True
                ),
            )
        )
        mounts.append(
            k.V1VolumeMount(name="source-data", mount_path=k8s.SOURCE_DATA_PATH, read_only=True)
        )
    return KubernetesPodOperator(
        name=_dns_name(step.task_id),
        namespace=k8s.JOBS_NAMESPACE,
        image=k8s.IMAGE,
        image_pull_policy=k8s.IMAGE_PULL_POLICY,
        cmds=["olist"],
        arguments=list(step.argv),
        env_from=env_from,
        service_account_name=k8s.JOBS_SERVICE_ACCOUNT,
        automount_service_account_token=False,
        container_resources=k.V1ResourceRequirements(
            requests={"cpu": r.cpu, "memory": r.memory},
            limits={"cpu": r.cpu_limit, "memory": r.memory_limit},
        ),
        security_context=k.V1PodSecurityContext(
            run_as_non_root=True,
            run_as_user=k8s.RUN_AS_USER,
            run_as_group=k8s.RUN_AS_USER,
            fs_group=k8s.RUN_AS_USER,
            seccomp_profile=k.V1SeccompProfile(type="RuntimeDefault"),
        ),
        container_security_context=k.V1SecurityContext(
            allow_privilege_escalation=False,
            read_only_root_filesystem=True,
            run_as_non_root=True,
            capabilities=k.V1Capabilities(drop=["ALL"]),
        ),
        volumes=volumes,
        volume_mounts=mounts,
        labels={
            "app.kubernetes.io/part-of": "olist-pipeline",
            "app.kubernetes.io/component": _dns_name(step.task_id).removeprefix("olist-"),
        },
        kubernetes_conn_id=k8s.KUBERNETES_CONN_ID,
        # Keep failed pods for debugging; reattach after a scheduler restart
        # instead of launching a second pod for the same try.
        on_finish_action="delete_succeeded_pod",
        get_logs=True,
        log_events_on_failure=True,
        # Airflow 3.3's successor of reattach_on_restart: the pod identity is kept
        # in the task state store, so a restarted worker reattaches to it.
        durable=True,
        startup_timeout_seconds=300,
        active_deadline_seconds=int(step.timeout.total_seconds()),
        skip_on_exit_code=list(step.skip_exit_codes) or None,
        **_common(step),
    )


def build_dag(pipeline: Pipeline, target: Target | None = None) -> Any:
    """The Airflow DAG of ``pipeline`` for ``target`` (default: ``OLIST_ENV``)."""
    from airflow.sdk import DAG, Param

    target = target or target_from_env()
    make_task = _kind_task if target is Target.KIND else _local_task
    params: dict[str, Any] = {
        "run_id": Param(
            "",
            type="string",
            description="Key of the run's writes; empty: Airflow's run id.",
        ),
    }
    if any(s.kind is Kind.SPARK for s in pipeline.steps):
        params["full_refresh"] = Param(
            False,
            type="boolean",
            description="Rebuild every layer from everything below instead of the increment "
            "(as `olist transform all --full-refresh`).",
        )
    if any(s.needs_source_data for s in pipeline.steps):
        params["data_dir"] = Param(
            "",
            type="string",
            description="A one-off folder of all Olist source CSV files to ingest; "
            "empty: the run's daily increment under landing_dir.",
        )
        params["landing_dir"] = Param(
            default_landing_dir(target),
            type="string",
            description="Folder of daily increments; a run ingests <landing_dir>/<day>/.",
        )
    dag = DAG(
        dag_id=pipeline.dag_id,
        description=pipeline.description,
        doc_md=pipeline.doc_md,
        schedule=schedule(pipeline),
        start_date=start_date(pipeline),
        catchup=pipeline.catchup,
        tags=set(pipeline.tags) | {f"target:{target.value}"},
        max_active_runs=pipeline.max_active_runs,
        dagrun_timeout=pipeline.dagrun_timeout,
        default_args={
            "owner": "olist",
            "retries": 2,
            "retry_exponential_backoff": 2.0,
            "on_failure_callback": callbacks.on_task_failure,
        },
        params=params,
        user_defined_macros=MACROS,
        template_searchpath=[str(spark_templates_dir())] if target is Target.KIND else None,
        on_success_callback=callbacks.on_dag_success,
        on_failure_callback=callbacks.on_dag_failure,
    )
    with dag:
        tasks = {s.task_id: make_task(s) for s in pipeline.steps}
    for step in pipeline.steps:
        for up in step.upstream:
            tasks[up] >> tasks[step.task_id]
    return dag
