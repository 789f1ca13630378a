"""One definition of every pipeline: steps, commands, dependencies, resources, retries.

Both DAG variants (local operators and Kubernetes operators) are built from
these objects and nothing else, so the two targets cannot drift apart; a DAG
test proves they have the same task ids and edges.

Commands are ``olist`` argv lists. They may hold Jinja placeholders that
Airflow renders at run time: ``RUN_ID`` (the run's key: the ``run_id``
param when a caller sets one, else Airflow's own run id), ``DATA_DIR`` (a
one-off folder of all source CSV files, a DAG param, empty by default) and
``INCREMENT_DIR`` (the run's data interval folder, ``<landing>/<day>``, read
when ``DATA_DIR`` is empty). Every command is idempotent for a given run id,
so a retry or a re-run of the same run changes nothing.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import timedelta

from olist_pipeline.config import Role
from olist_pipeline.contracts.sources import TABLES

# Rendered by Airflow at run time; never evaluated at parse time.
RUN_ID = "{{ params.run_id or run_id }}"
DATA_DIR = "{{ params.data_dir }}"
# The day the run's data interval starts: a scheduled or backfilled run of a
# daily DAG covers [day, day + 1).
INCREMENT_DIR = "{{ params.landing_dir }}/{{ data_interval_start | ds }}"
# The DAG's full_refresh param: true rebuilds every Spark layer from everything below.
FULL_REFRESH = "--full-refresh={{ params.full_refresh }}"


class Kind(enum.StrEnum):
    COMMAND = "command"  # an `olist ...` command (PythonOperator / KubernetesPodOperator)
    SPARK = "spark"  # a spark-apps/<job>.py job (SparkSubmitOperator / SparkKubernetesOperator)


@dataclass(frozen=True)
class Resources:
    """Container requests/limits (command steps) or driver/executor sizes (Spark steps)."""

    cpu: str = "250m"
    memory: str = "512Mi"
    cpu_limit: str = "1"
    memory_limit: str = "1Gi"
    # Spark only: the driver runs in the task's pod on the cluster (or the
    # spark-submit JVM locally); executors only exist on the cluster.
    driver_cores: int = 1
    driver_memory: str = "1g"
    executor_instances: int = 1
    executor_cores: int = 1
    executor_memory: str = "1g"


@dataclass(frozen=True)
class RetryPolicy:
    retries: int = 2
    delay: timedelta = timedelta(seconds=30)
    max_delay: timedelta = timedelta(minutes=10)
    # Airflow 3 multiplier: the delay doubles with each try, capped at max_delay.
    backoff: float = 2.0


@dataclass(frozen=True)
class Step:
    task_id: str
    kind: Kind
    doc: str
    # Command steps: the argv after `olist`. Spark steps: the job name
    # (spark-apps/<job>.py and spark-apps/k8s/<job>.yaml, generated from this
    # step by `olist airflow sparkapps`); its argv is always ``spark_argv``.
    argv: tuple[str, ...] = ()
    job: str | None = None
    upstream: tuple[str, ...] = ()
    # Database logins the step's pod receives from Secrets on the cluster.
    roles: tuple[Role, ...] = ()
    resources: Resources = Resources()
    retry: RetryPolicy = RetryPolicy()
    timeout: timedelta = timedelta(minutes=30)
    # Exit codes that still count as success (3: finished with quarantined rows).
    ok_exit_codes: tuple[int, ...] = (0,)
    # Exit codes that mark the task skipped (5: no increment for the interval);
    # downstream tasks follow Airflow's skip semantics.
    skip_exit_codes: tuple[int, ...] = ()
    # The step reads the source CSV folder (the cluster mounts it into the pod).
    needs_source_data: bool = False
    # Airflow trigger rule: "all_success", or "one_failed" for a step that
    # runs only when an upstream step failed (and is skipped otherwise).
    trigger_rule: str = "all_success"

    @property
    def spark_argv(self) -> tuple[str, ...]:
        return ("--run-id", RUN_ID, FULL_REFRESH)


@dataclass(frozen=True)
class Pipeline:
    dag_id: str
    description: str
    doc_md: str
    schedule: str | None
    tags: tuple[str, ...]
    steps: tuple[Step, ...]
    catchup: bool = False
    # True: the schedule's cron makes data intervals (a run covers the previous
    # period, and starts when it ends), not Airflow 3's default trigger timetable.
    data_intervals: bool = False
    max_active_runs: int = 1
    # Whole-run timeout: the scheduler fails a run that takes longer.
    dagrun_timeout: timedelta = timedelta(hours=3)

    def step(self, task_id: str) -> Step:
        for s in self.steps:
            if s.task_id == task_id:
                return s
        raise KeyError(task_id)

    def edges(self) -> set[tuple[str, str]]:
        return {(up, s.task_id) for s in self.steps for up in s.upstream}


def _check(p: Pipeline) -> Pipeline:
    """Refuse a definition with unknown upstreams or duplicate ids (caught by the DAG tests)."""
    ids = [s.task_id for s in p.steps]
    if len(ids) != len(set(ids)):
        raise ValueError(f"{p.dag_id}: duplicate task ids")
    for s in p.steps:
        missing = set(s.upstream) - set(ids)
        if missing:
            raise ValueError(f"{p.dag_id}.{s.task_id}: unknown upstream {sorted(missing)}")
        if (s.kind is Kind.SPARK) != (s.job is not None):
            raise ValueError(f"{p.dag_id}.{s.task_id}: a spark step needs a job, only it")
    return p


def _gate(layer: str, after: tuple[str, ...]) -> Step:
    return Step(
        task_id=f"dq_{layer}",
        kind=Kind.COMMAND,
        doc=f"Data-quality gate on {layer}: an error-severity failure stops the run (exit 4).",
        argv=("dq", "run", "--layer", layer, "--run-id", RUN_ID),
        upstream=after,
        roles=(Role.QUALITY,),
        timeout=timedelta(minutes=15),
    )


def _spark(job: str, after: str, resources: Resources, doc: str) -> Step:
    return Step(
        task_id=job,
        kind=Kind.SPARK,
        doc=doc,
        job=job,
        upstream=(after,),
        roles=(Role.TRANSFORMER,),
        resources=resources,
        timeout=timedelta(minutes=45),
    )


def _ingest_argv(table: str) -> tuple[str, ...]:
    # A one-off DATA_DIR names its batches by content hash; an increment by its
    # day (ingest derives --batch-id from the folder name). Either way a re-run
    # of loaded bytes is a no-op, and a day without a folder exits 5 (skipped).
    return (
        "ingest",
        "--source",
        DATA_DIR,
        "--increment",
        INCREMENT_DIR,
        "--tables",
        table,
        "--run-id",
        RUN_ID,
    )


_SPARK_SMALL = Resources(driver_memory="1g", executor_instances=1, executor_memory="1g")
_SPARK_MEDIUM = Resources(driver_memory="2g", executor_instances=2, executor_memory="2g")

_INGEST = tuple(
    Step(
        task_id=f"ingest_{table}",
        kind=Kind.COMMAND,
        doc=f"Load the {table} file of the run's day (or of params.data_dir) into raw.{table}.",
        argv=_ingest_argv(table),
        roles=(Role.LOADER,),
        resources=Resources(cpu="250m", memory="512Mi", memory_limit="1Gi"),
        retry=RetryPolicy(retries=3),
        timeout=timedelta(minutes=20),
        ok_exit_codes=(0, 3),  # quarantined rows are the raw gate's call, not a task failure
        skip_exit_codes=(5,),
        needs_source_data=True,
    )
    for table in TABLES
)

_BATCH_WORK = (
    *(s.task_id for s in _INGEST),
    *(f"dq_{layer}" for layer in ("raw", "staging", "warehouse", "marts")),
    "staging",
    "warehouse",
    "marts",
)


def _publish(task_id: str, upstream: tuple[str, ...], trigger_rule: str) -> Step:
    when = "after the marts gate passed" if trigger_rule == "all_success" else "when a step failed"
    return Step(
        task_id=task_id,
        kind=Kind.COMMAND,
        doc=f"Push the run's batch metrics to the Pushgateway ({when}).",
        argv=("metrics", "publish", "--run-id", RUN_ID),
        upstream=upstream,
        roles=(Role.READER,),
        resources=Resources(cpu="100m", memory="256Mi", memory_limit="512Mi"),
        timeout=timedelta(minutes=5),
        trigger_rule=trigger_rule,
    )


BATCH = _check(
    Pipeline(
        dag_id="olist_batch",
        description="Olist batch: CSV -> raw -> staging -> warehouse -> marts, gated by DQ",
        doc_md="""\
### olist_batch

Daily batch of the Olist platform: one run per data interval (a UTC day), keyed by
the run id (`params.run_id` when given, else Airflow's run id).

1. `ingest_<table>`: the day's increment `<params.landing_dir>/<data_interval_start | ds>/`
   loaded in parallel into `raw`, as batches named by the day; a day without a folder
   skips the run (every task skipped, the run succeeds). `params.data_dir` set: that
   folder of all files instead (a one-off full load, content-addressed batches).
2. `dq_raw`: raw gate (row counts, quarantine, schema).
3. `staging` (Spark) -> `dq_staging` -> `warehouse` (Spark) -> `dq_warehouse`
   -> `marts` (Spark) -> `dq_marts`: an error-severity failure stops the run.
4. `publish_metrics`: batch metrics to the Pushgateway; `publish_metrics_on_failure`
   pushes them instead when any step failed (the run still ends failed).

Every step is idempotent per run id: a retry or re-run replaces what the same run wrote.
Target: `OLIST_ENV=local` (local operators) or `kind` (KubernetesPodOperator,
SparkKubernetesOperator). `catchup=True`: missed days run one by one, oldest first;
backfill with `airflow backfill create --dag-id olist_batch --from-date D1 --to-date D2`.
""",
        schedule="@daily",
        catchup=True,
        data_intervals=True,
        tags=("olist", "batch"),
        steps=(
            *_INGEST,
            _gate("raw", tuple(s.task_id for s in _INGEST)),
            _spark("staging", "dq_raw", _SPARK_SMALL, "raw -> staging (typed, de-duplicated)."),
            _gate("staging", ("staging",)),
            _spark("warehouse", "dq_staging", _SPARK_MEDIUM, "staging -> star-schema warehouse."),
            _gate("warehouse", ("warehouse",)),
            _spark("marts", "dq_warehouse", _SPARK_MEDIUM, "warehouse -> analytics marts."),
            _gate("marts", ("marts",)),
            _publish("publish_metrics", ("dq_marts",), "all_success"),
            # A failed step's status reaches the dashboards too; the run still
            # ends failed, because publish_metrics (a leaf) is upstream_failed.
            _publish("publish_metrics_on_failure", _BATCH_WORK, "one_failed"),
        ),
    )
)

STREAM_PARITY = _check(
    Pipeline(
        dag_id="olist_stream_parity",
        description="Olist stream/batch parity: stream staging vs batch staging",
        doc_md="""\
### olist_stream_parity

Every 30 minutes, compares what the stream consumers stored (`staging.order_events`,
`staging.payment_events`) with the batch path (counts and payment totals per day) and
records the result in `audit` and as metrics; drift beyond the tolerance fails the task.
No backlog of missed slots is run (`catchup=False`): a parity check is only meaningful
against the current state.
""",
        schedule="*/30 * * * *",
        tags=("olist", "stream", "quality"),
        max_active_runs=1,
        dagrun_timeout=timedelta(minutes=25),
        steps=(
            Step(
                task_id="parity_check",
                kind=Kind.COMMAND,
                doc="Batch vs stream parity check for the run.",
                argv=("dq", "parity", "--run-id", RUN_ID),
                roles=(Role.QUALITY,),
                resources=Resources(cpu="100m", memory="256Mi", memory_limit="512Mi"),
                timeout=timedelta(minutes=10),
            ),
        ),
    )
)

DLQ_REPLAY = _check(
    Pipeline(
        dag_id="olist_dlq_replay",
        description="Olist DLQ replay: re-publish dead-lettered events after a fix",
        doc_md="""\
### olist_dlq_replay

Manual only (no schedule): after fixing the cause of dead-lettered events, trigger this
DAG to replay the `orders` and `payments` dead-letter topics into their main topics.
Consumers are idempotent (`ON CONFLICT (event_id)`), so a replay never duplicates.
""",
        schedule=None,
        tags=("olist", "stream", "ops"),
        dagrun_timeout=timedelta(hours=1),
        steps=tuple(
            Step(
                task_id=f"dlq_replay_{stream}",
                kind=Kind.COMMAND,
                doc=f"Replay the {stream} dead-letter topic.",
                argv=("stream", "dlq-replay", "--stream", stream),
                roles=(Role.STREAM,),
                resources=Resources(cpu="100m", memory="256Mi", memory_limit="512Mi"),
                timeout=timedelta(minutes=20),
            )
            for stream in ("orders", "payments")
        ),
    )
)

PIPELINES: tuple[Pipeline, ...] = (BATCH, STREAM_PARITY, DLQ_REPLAY)


@dataclass(frozen=True)
class LiveJob:
    """A Spark job that runs until stopped: no DAG step submits it, the chart deploys it.

    Its SparkApplication (``spark-apps/k8s/<job>.yaml``, generated by ``olist airflow
    sparkapps``) restarts a failed driver itself, from the checkpoint on its volume
    claim; the chart's ``live`` values default to these fields (tests/charts checks it).
    """

    job: str
    doc: str
    roles: tuple[Role, ...]
    resources: Resources
    watermark_delay: str
    metrics_port: int
    checkpoint_claim: str
    # Where the driver mounts the claim; the query's checkpoint is a folder inside it.
    checkpoint_mount: str
    # The Spark Operator's OnFailure policy: driver restarts, and resubmissions
    # when the submission itself failed, each after a fixed interval.
    failure_retries: int = 10
    submission_retries: int = 5
    retry_interval: timedelta = timedelta(seconds=30)

    @property
    def argv(self) -> tuple[str, ...]:
        return (
            "--checkpoint",
            f"{self.checkpoint_mount}/checkpoint",
            "--watermark-delay",
            self.watermark_delay,
            # Scraped by the chart's PodMonitor through the pod's IP.
            "--metrics-host",
            "0.0.0.0",  # noqa: S104 - a pod's own network namespace
            "--metrics-port",
            str(self.metrics_port),
        )


LIVE_SALES = LiveJob(
    job="live_sales",
    doc="the live sales query (Kafka topics -> marts.live_sales_minute)",
    roles=(Role.STREAM,),
    resources=Resources(driver_memory="1g", executor_instances=1, executor_memory="1g"),
    watermark_delay="1d",
    metrics_port=9103,
    checkpoint_claim="olist-live-checkpoint",
    checkpoint_mount="/var/lib/olist/live",
)
