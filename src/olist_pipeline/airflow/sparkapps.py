"""The SparkApplications of ``spark-apps/k8s/``, generated from the pipeline definition.

One template (``_application``) fills every file: each Spark step of the
pipelines (``definition.PIPELINES``; the kind DAGs submit ``<job>.yaml``
through SparkKubernetesOperator) and the long-running live sales job
(``definition.LIVE_SALES``; the chart renders ``live_sales.yaml`` through
``files/spark-apps``). The files stay checked in, so the DAGs, the images and
the chart read them unchanged; ``olist airflow sparkapps`` rewrites them and
``--check`` (and tests/dags) fails on a file that differs from its rendering.

A batch file holds Airflow Jinja (the run id), which SparkKubernetesOperator
renders at run time: nothing else in a file may look like Jinja.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from olist_pipeline.airflow import k8s
from olist_pipeline.airflow.definition import LIVE_SALES, PIPELINES, Kind, LiveJob, Resources
from olist_pipeline.config import Role, spark_version
from olist_pipeline.transform.spark import SQL_CONF

API_VERSION = "sparkoperator.k8s.io/v1beta2"
PART_OF = "olist-pipeline"
# A finished batch application is deleted an hour later (its pods with it); the
# task's log already holds the driver's output.
BATCH_TTL_SECONDS = 3600

_BATCH_HEADER = """\
SparkApplication of the {job} job of {dag_id}, for the Kubeflow Spark Operator:
{doc}
Submitted by SparkKubernetesOperator (task "{task_id}" of {dag_id}, OLIST_ENV=kind), which
renders the Jinja below (the run id), appends a random suffix to metadata.name and labels
driver and executor pods with dag_id/task_id/run_id/try_number so a restarted worker
reattaches instead of submitting twice. restartPolicy Never: Airflow owns the retries.
Settings and the {logins} come from the olist-platform chart's ConfigMap and
Secret in the {namespace} namespace.
"""

_LIVE_HEADER = """\
SparkApplication of {doc}, for the
Kubeflow Spark Operator. Long-running, unlike the batch jobs: nothing submits it per run;
the olist-platform chart renders this file (files/spark-apps, values `live`) with the
release's image, namespace and sizes. restartPolicy OnFailure: a failed driver restarts from
its checkpoint on the PersistentVolumeClaim below, and the batch-id ledger in PostgreSQL
skips a micro-batch it had already committed. Settings and the {logins} come from the
chart's ConfigMap and Secret in the {namespace} namespace.
"""

_GENERATED = """\
Generated from olist_pipeline.airflow (definition.py, k8s.py, sparkapps.py) by
`olist airflow sparkapps`: edit those, not this file (tests/dags fails on a stale one).
"""


@dataclass(frozen=True)
class _App:
    """What one SparkApplication is made of; everything else is shared by all of them."""

    job: str
    header: str
    roles: tuple[Role, ...]
    arguments: tuple[str, ...]
    resources: Resources
    restart_policy: dict[str, Any]
    ttl_seconds: int | None = None
    # Live job only: its checkpoint claim (claim, mount path) and the driver's /metrics port.
    checkpoint: tuple[str, str] | None = None
    metrics_port: int | None = None

    @property
    def name(self) -> str:
        return "olist-" + self.job.replace("_", "-")

    @property
    def component(self) -> str:
        return "spark-" + self.job.replace("_", "-")


def _logins(roles: tuple[Role, ...]) -> str:
    names = " and ".join(r.value for r in roles)
    return f"{names} login" if len(roles) == 1 else f"{names} logins"


def _batch_apps() -> list[_App]:
    out = []
    for pipeline in PIPELINES:
        for step in pipeline.steps:
            if step.kind is not Kind.SPARK or step.job is None:
                continue
            header = _BATCH_HEADER.format(
                job=step.job,
                doc=step.doc,
                task_id=step.task_id,
                dag_id=pipeline.dag_id,
                logins=_logins(step.roles),
                namespace=k8s.SPARK_NAMESPACE,
            )
            out.append(
                _App(
                    job=step.job,
                    header=header,
                    roles=step.roles,
                    arguments=step.spark_argv,
                    resources=step.resources,
                    restart_policy={"type": "Never"},
                    ttl_seconds=BATCH_TTL_SECONDS,
                )
            )
    return out


def _live_app(live: LiveJob) -> _App:
    interval = int(live.retry_interval.total_seconds())
    return _App(
        job=live.job,
        header=_LIVE_HEADER.format(
            doc=live.doc, logins=_logins(live.roles), namespace=k8s.SPARK_NAMESPACE
        ),
        roles=live.roles,
        arguments=live.argv,
        resources=live.resources,
        restart_policy={
            "type": "OnFailure",
            "onFailureRetries": live.failure_retries,
            "onFailureRetryInterval": interval,
            "onSubmissionFailureRetries": live.submission_retries,
            "onSubmissionFailureRetryInterval": interval,
        },
        checkpoint=(live.checkpoint_claim, live.checkpoint_mount),
        metrics_port=live.metrics_port,
    )


def _application(app: _App) -> dict[str, Any]:
    """The one template: a SparkApplication of ``app`` for the Kubeflow Spark Operator."""
    r = app.resources
    env_from = [{"configMapRef": {"name": k8s.ENV_CONFIGMAP}}] + [
        {"secretRef": {"name": k8s.role_secret(role)}} for role in app.roles
    ]
    pod_security = {
        "runAsNonRoot": True,
        "runAsUser": k8s.RUN_AS_USER,
        "runAsGroup": k8s.RUN_AS_USER,
        "fsGroup": k8s.RUN_AS_USER,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    security = {
        "runAsNonRoot": True,
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
    }
    part_of = {"app.kubernetes.io/part-of": PART_OF}
    spec: dict[str, Any] = {
        "type": "Python",
        "pythonVersion": "3",
        "mode": "cluster",
        "image": k8s.IMAGE,
        "imagePullPolicy": k8s.IMAGE_PULL_POLICY,
        "sparkVersion": spark_version(),
        "mainApplicationFile": f"local://{k8s.SPARK_APPS_DIR}/{app.job}.py",
        "arguments": list(app.arguments),
        "sparkConf": dict(SQL_CONF),
        "restartPolicy": app.restart_policy,
    }
    if app.ttl_seconds is not None:
        spec["timeToLiveSeconds"] = app.ttl_seconds
    driver: dict[str, Any] = {
        "cores": r.driver_cores,
        "coreLimit": str(r.driver_cores),
        "memory": r.driver_memory,
        "serviceAccount": k8s.SPARK_SERVICE_ACCOUNT,
        # A scraped driver carries what the chart's PodMonitor selects and names its job by.
        "labels": (
            {**part_of, "app.kubernetes.io/component": app.component, "olist.io/job": app.name}
            if app.metrics_port is not None
            else dict(part_of)
        ),
        "envFrom": env_from,
    }
    if app.checkpoint is not None:
        claim, mount = app.checkpoint
        spec["volumes"] = [{"name": "checkpoint", "persistentVolumeClaim": {"claimName": claim}}]
        driver["volumeMounts"] = [{"name": "checkpoint", "mountPath": mount}]
    if app.metrics_port is not None:
        driver["ports"] = [
            {"name": "metrics", "containerPort": app.metrics_port, "protocol": "TCP"}
        ]
    spec["driver"] = {**driver, "podSecurityContext": pod_security, "securityContext": security}
    spec["executor"] = {
        "instances": r.executor_instances,
        "cores": r.executor_cores,
        "coreLimit": str(r.executor_cores),
        "memory": r.executor_memory,
        "serviceAccount": k8s.SPARK_SERVICE_ACCOUNT,
        "labels": dict(part_of),
        "envFrom": env_from,
        "podSecurityContext": pod_security,
        "securityContext": security,
    }
    return {
        "apiVersion": API_VERSION,
        "kind": "SparkApplication",
        "metadata": {
            "name": app.name,
            "namespace": k8s.SPARK_NAMESPACE,
            "labels": {**part_of, "app.kubernetes.io/component": app.component},
        },
        "spec": spec,
    }


class _Dumper(yaml.SafeDumper):
    """Block lists indented under their key, as in the rest of the repository's YAML."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)

    def ignore_aliases(self, data: Any) -> bool:
        # The driver and executor share envFrom and security objects: written out
        # in full each time, so each part reads on its own.
        return True


def _comment(text: str) -> str:
    return "".join(f"# {line}\n" if line else "#\n" for line in text.splitlines())


def render(app: _App) -> str:
    body = yaml.dump(
        _application(app), Dumper=_Dumper, sort_keys=False, width=100, allow_unicode=True
    )
    return _comment(app.header + _GENERATED) + body


def rendered() -> dict[str, str]:
    """Every generated file's name and text."""
    apps = [*_batch_apps(), _live_app(LIVE_SALES)]
    return {f"{app.job}.yaml": render(app) for app in apps}


def stale(directory: Path) -> list[str]:
    """Generated files missing from ``directory`` or differing from their rendering."""
    return [
        name
        for name, text in rendered().items()
        if not (directory / name).is_file() or (directory / name).read_text("utf-8") != text
    ]


def unknown(directory: Path) -> list[str]:
    """Files of ``directory`` that no job renders (a job removed or renamed)."""
    return sorted({p.name for p in directory.glob("*.yaml")} - set(rendered()))


def write(directory: Path) -> list[str]:
    """Write every generated file that changed; the names written."""
    directory.mkdir(parents=True, exist_ok=True)
    changed = []
    for name, text in rendered().items():
        path = directory / name
        if not path.is_file() or path.read_text("utf-8") != text:
            path.write_text(text, "utf-8")
            changed.append(name)
    return changed
