"""DAG integrity for both targets: import, shape, retries, operators, rendered manifests.

The DAG files are loaded with Airflow's DagBag once per target (OLIST_ENV);
the Kubernetes objects are rendered offline (no cluster) and validated
against the pinned Kubernetes schema and the Spark Operator CRD schema.
"""

from __future__ import annotations

import itertools
import socket
import warnings
from pathlib import Path
from typing import Any

import pytest
import yaml

from olist_pipeline.airflow import k8s
from olist_pipeline.airflow.definition import (
    BATCH,
    DATA_DIR,
    FULL_REFRESH,
    INCREMENT_DIR,
    PIPELINES,
    RUN_ID,
    Kind,
    Pipeline,
)
from olist_pipeline.config import KIND_LANDING_DIR, Role, Target, spark_version
from olist_pipeline.contracts.sources import TABLES
from tests.k8s_validate import validate_manifest

ROOT = Path(__file__).resolve().parents[2]
DAGS = ROOT / "airflow" / "dags"
BY_ID = {p.dag_id: p for p in PIPELINES}


def _load(target: Target, monkeypatch: pytest.MonkeyPatch) -> tuple[Any, list[str]]:
    from airflow.dag_processing.dagbag import DagBag

    monkeypatch.setenv("OLIST_ENV", target.value)

    def no_network(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("a DAG file opened a network connection at parse time")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        bag = DagBag(str(DAGS))
    found = [f"{w.category.__name__}: {w.message} ({w.filename})" for w in caught]
    for file_warnings in getattr(bag, "captured_warnings", {}).values():
        found.extend(str(w) for w in file_warnings)
    return bag, found


@pytest.fixture(scope="module")
def bags() -> dict[Target, Any]:
    mp = pytest.MonkeyPatch()
    out: dict[Target, Any] = {}
    try:
        for target in Target:
            bag, found = _load(target, mp)
            assert bag.import_errors == {}, f"{target}: {bag.import_errors}"
            assert found == [], f"{target}: warnings while parsing DAGs: {found}"
            out[target] = bag
    finally:
        mp.undo()
    return out


def _edges(dag: Any) -> set[tuple[str, str]]:
    return {(t.task_id, d) for t in dag.tasks for d in t.downstream_task_ids}


def test_every_dag_file_loads_in_both_targets_without_errors_or_warnings(bags):
    for target, bag in bags.items():
        assert set(bag.dag_ids) == set(BY_ID), target
        for dag_id, dag in bag.dags.items():
            assert Path(dag.fileloc).stem == dag_id, "dag_id must match its file name"


def test_both_targets_have_the_same_task_ids_and_dependencies(bags):
    for dag_id, pipeline in BY_ID.items():
        local, kind = bags[Target.LOCAL].dags[dag_id], bags[Target.KIND].dags[dag_id]
        assert set(local.task_ids) == set(kind.task_ids) == {s.task_id for s in pipeline.steps}
        assert _edges(local) == _edges(kind) == pipeline.edges()
        assert local.schedule == kind.schedule


@pytest.mark.parametrize("target", list(Target))
def test_dag_level_settings_are_explicit(bags, target):
    for dag_id, dag in bags[target].dags.items():
        p = BY_ID[dag_id]
        assert dag.catchup is p.catchup
        assert "olist" in dag.tags and f"target:{target.value}" in dag.tags
        assert dag.doc_md and dag.doc_md.strip().startswith(f"### {dag_id}")
        assert dag.max_active_runs == p.max_active_runs
        assert dag.dagrun_timeout is not None
        assert dag.on_failure_callback and dag.on_success_callback
        assert "run_id" in dag.params
    assert bags[target].dags["olist_batch"].timetable.expression == "0 0 * * *"  # @daily
    assert bags[target].dags["olist_stream_parity"].timetable.expression == "*/30 * * * *"
    assert bags[target].dags["olist_dlq_replay"].schedule is None  # manual only


@pytest.mark.parametrize("target", list(Target))
def test_every_task_retries_with_backoff_timeout_and_failure_callback(bags, target):
    for dag in bags[target].dags.values():
        for task in dag.tasks:
            where = f"{target.value}:{dag.dag_id}.{task.task_id}"
            assert task.retries >= 2, where
            assert task.retry_exponential_backoff >= 2, where
            assert task.max_retry_delay is not None, where
            assert task.execution_timeout is not None, where
            assert task.on_failure_callback, where
            assert task.on_retry_callback, where
            assert task.doc_md, where


def test_batch_shape_ingests_every_table_in_parallel_then_gates_each_layer(bags):
    dag = bags[Target.LOCAL].dags["olist_batch"]
    ingest = {f"ingest_{t}" for t in TABLES}
    assert ingest <= set(dag.task_ids)
    for tid in ingest:
        assert dag.get_task(tid).upstream_task_ids == set()
        assert dag.get_task(tid).downstream_task_ids == {"dq_raw", "publish_metrics_on_failure"}
    chain = ["dq_raw", "staging", "dq_staging", "warehouse", "dq_warehouse", "marts"]
    chain += ["dq_marts", "publish_metrics"]
    for up, down in itertools.pairwise(chain):
        assert dag.get_task(down).upstream_task_ids == {up}
    # Metrics are pushed on the failure path too: after any failed step, only then.
    on_failure = dag.get_task("publish_metrics_on_failure")
    assert on_failure.upstream_task_ids == ingest | set(chain[:-1])
    assert on_failure.trigger_rule == "one_failed"
    assert dag.get_task("publish_metrics").trigger_rule == "all_success"
    assert len(dag.tasks) == len(TABLES) + len(chain) + 1


def test_local_target_uses_local_operators(bags):
    from airflow.providers.standard.operators.python import PythonOperator

    for dag_id, dag in bags[Target.LOCAL].dags.items():
        for step in BY_ID[dag_id].steps:
            task = dag.get_task(step.task_id)
            assert isinstance(task, PythonOperator)
            if step.kind is Kind.SPARK:
                # A client of the stack's Spark Connect server, like any olist command.
                assert task.op_kwargs["argv"] == [
                    "transform",
                    step.job,
                    "--run-id",
                    RUN_ID,
                    FULL_REFRESH,
                ]
            else:
                assert task.op_kwargs["argv"] == list(step.argv)
                assert "--run-id" in step.argv or dag_id == "olist_dlq_replay"


def test_local_target_without_spark_connect_uses_spark_submit():
    from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator

    mp = pytest.MonkeyPatch()
    try:
        mp.setenv("OLIST_SPARK_CONNECT", "false")
        bag, found = _load(Target.LOCAL, mp)
    finally:
        mp.undo()
    assert bag.import_errors == {} and found == []
    spark_steps = 0
    for dag_id, dag in bag.dags.items():
        for step in BY_ID[dag_id].steps:
            if step.kind is not Kind.SPARK:
                continue
            spark_steps += 1
            task = dag.get_task(step.task_id)
            assert isinstance(task, SparkSubmitOperator)
            assert task.application == str(ROOT / "spark-apps" / f"{step.job}.py")
            assert Path(task.application).is_file()
            assert task.application_args == ["--run-id", RUN_ID, FULL_REFRESH]
            assert task.jars == "{{ olist_jdbc_jar() }}"  # resolved at run time only
    assert spark_steps >= 3


def test_kind_target_uses_kubernetes_operators(bags):
    from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator
    from airflow.providers.cncf.kubernetes.operators.spark_kubernetes import (
        SparkKubernetesOperator,
    )

    for dag_id, dag in bags[Target.KIND].dags.items():
        for step in BY_ID[dag_id].steps:
            task = dag.get_task(step.task_id)
            if step.kind is Kind.SPARK:
                assert isinstance(task, SparkKubernetesOperator)
                assert task.namespace == k8s.SPARK_NAMESPACE
                # Airflow reads the template file when it loads the DAG (template_ext).
                template = task.application_file
                assert template == f"{step.job}.yaml" or (
                    f"local://{k8s.SPARK_APPS_DIR}/{step.job}.py" in template
                )
                assert task.reattach_on_restart and task.get_logs and task.delete_on_termination
            else:
                assert type(task) is KubernetesPodOperator
                assert task.namespace == k8s.JOBS_NAMESPACE
                assert task.image == k8s.IMAGE and not task.image.endswith(":latest")
                assert task.on_finish_action.value == "delete_succeeded_pod"
                assert task.get_logs and task.durable and task.log_events_on_failure


def _rendered(pipeline: Pipeline) -> dict[str, dict[str, Any]]:
    from olist_pipeline.airflow.render import render_kind

    return {r.task_id: r.manifest for r in render_kind(pipeline, run_id="scheduled__2026-01-02")}


@pytest.mark.parametrize("pipeline", PIPELINES, ids=lambda p: p.dag_id)
def test_rendered_kubernetes_objects_validate_and_carry_the_expected_values(pipeline):
    rendered = _rendered(pipeline)
    assert set(rendered) == {s.task_id for s in pipeline.steps}
    for step in pipeline.steps:
        doc = rendered[step.task_id]
        errors = validate_manifest(doc, strict=True)
        assert errors == [], f"{step.task_id}: {errors}"
        if step.kind is Kind.SPARK:
            _check_spark_application(step, doc)
        else:
            _check_pod(step, doc)


def _check_pod(step: Any, pod: dict[str, Any]) -> None:
    assert pod["kind"] == "Pod"
    assert pod["metadata"]["namespace"] == k8s.JOBS_NAMESPACE
    spec = pod["spec"]
    assert spec["serviceAccountName"] == k8s.JOBS_SERVICE_ACCOUNT
    assert spec["restartPolicy"] == "Never"
    (container,) = spec["containers"]  # no sidecar: sidecars hang KPO pods
    assert container["image"] == k8s.IMAGE
    assert container["command"] == ["olist"]
    expected = [a.replace(RUN_ID, "scheduled__2026-01-02") for a in step.argv]
    # A scheduled run: no one-off folder, the interval's day folder on the source volume.
    expected = [a.replace(DATA_DIR, "") for a in expected]
    expected = [a.replace(INCREMENT_DIR, f"{KIND_LANDING_DIR}/2026-01-01") for a in expected]
    assert container["args"] == expected
    if step.needs_source_data:
        assert f"{k8s.SOURCE_DATA_PATH}/increments/2026-01-01" in container["args"]
    refs = [e.get("secretRef", {}).get("name") for e in container["envFrom"]]
    assert refs[1:] == [k8s.role_secret(r) for r in step.roles]
    assert container["envFrom"][0] == {"configMapRef": {"name": k8s.ENV_CONFIGMAP}}
    assert Role.ADMIN not in step.roles
    assert container["resources"]["requests"] == {
        "cpu": step.resources.cpu,
        "memory": step.resources.memory,
    }
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert spec["securityContext"]["runAsNonRoot"] is True
    mounts = {m["mountPath"] for m in container["volumeMounts"]}
    assert (k8s.SOURCE_DATA_PATH in mounts) == step.needs_source_data
    assert pod["metadata"]["labels"]["dag_id"]  # reattach labels


def _check_spark_application(step: Any, app: dict[str, Any]) -> None:
    assert app["apiVersion"] == "sparkoperator.k8s.io/v1beta2"
    assert app["kind"] == "SparkApplication"
    assert app["metadata"]["namespace"] == k8s.SPARK_NAMESPACE
    spec = app["spec"]
    assert spec["image"] == k8s.IMAGE
    assert spec["sparkVersion"] == spark_version()
    assert spec["mainApplicationFile"] == f"local://{k8s.SPARK_APPS_DIR}/{step.job}.py"
    assert spec["arguments"] == ["--run-id", "scheduled__2026-01-02", "--full-refresh=False"]
    assert spec["restartPolicy"] == {"type": "Never"}
    assert spec["timeToLiveSeconds"] > 0
    r = step.resources
    assert spec["driver"]["memory"] == r.driver_memory
    assert spec["driver"]["cores"] == r.driver_cores
    assert spec["executor"]["instances"] == r.executor_instances
    assert spec["executor"]["memory"] == r.executor_memory
    for part in ("driver", "executor"):
        assert spec[part]["serviceAccount"] == k8s.SPARK_SERVICE_ACCOUNT
        assert {"secretRef": {"name": k8s.role_secret(Role.TRANSFORMER)}} in spec[part]["envFrom"]
        assert spec[part]["securityContext"]["allowPrivilegeEscalation"] is False


def test_spark_application_templates_exist_for_every_spark_step_and_nothing_else():
    jobs = {s.job for p in PIPELINES for s in p.steps if s.kind is Kind.SPARK}
    # live_sales is long-running: the chart deploys it, no DAG step submits it.
    files = {f.stem for f in (ROOT / "spark-apps" / "k8s").glob("*.yaml")} - {"live_sales"}
    assert files == jobs
    for job in jobs:
        text = (ROOT / "spark-apps" / "k8s" / f"{job}.yaml").read_text()
        assert "{{ params.run_id or run_id }}" in text
        assert yaml.safe_load(text)["metadata"]["namespace"] == k8s.SPARK_NAMESPACE


def test_the_spark_application_files_are_what_the_definition_renders():
    """spark-apps/k8s/*.yaml are generated: a hand edit, or a definition changed without
    `olist airflow sparkapps`, fails here (the chart's CRD checks cover every file)."""
    from olist_pipeline.airflow import sparkapps

    directory = ROOT / "spark-apps" / "k8s"
    assert sparkapps.stale(directory) == [], "stale: run `olist airflow sparkapps`"
    assert sparkapps.unknown(directory) == [], "files no job renders"
    live = yaml.safe_load((directory / "live_sales.yaml").read_text("utf-8"))
    assert live["spec"]["restartPolicy"]["type"] == "OnFailure"


def test_sparkapps_check_names_a_stale_file_and_the_command(tmp_path, capsys):
    from olist_pipeline.cli import main

    assert main(["airflow", "sparkapps", "--dir", str(tmp_path)]) == 0
    written = sorted(p.name for p in tmp_path.glob("*.yaml"))
    assert written == sorted(p.name for p in (ROOT / "spark-apps" / "k8s").glob("*.yaml"))
    assert main(["airflow", "sparkapps", "--check", "--dir", str(tmp_path)]) == 0
    marts = tmp_path / "marts.yaml"
    marts.write_text(marts.read_text("utf-8").replace("memory: 2g", "memory: 3g"), "utf-8")
    (tmp_path / "gone.yaml").write_text("{}\n", "utf-8")
    capsys.readouterr()
    assert main(["airflow", "sparkapps", "--check", "--dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert f"{marts} is stale: run `olist airflow sparkapps`" in err
    assert f"{tmp_path / 'gone.yaml'} is the SparkApplication of no job" in err
    assert "3g" in marts.read_text("utf-8")  # --check writes nothing


def test_definition_refuses_unknown_upstreams_and_duplicates():
    from dataclasses import replace

    from olist_pipeline.airflow.definition import _check

    first = BATCH.steps[0]
    with pytest.raises(ValueError, match="unknown upstream"):
        _check(replace(BATCH, steps=(replace(first, upstream=("nope",)),)))
    with pytest.raises(ValueError, match="duplicate"):
        _check(replace(BATCH, steps=(first, first)))


@pytest.mark.parametrize("pipeline", PIPELINES, ids=lambda p: p.dag_id)
def test_every_command_is_accepted_by_the_olist_cli(pipeline):
    """The DAGs call the command surface exactly as the `olist` parser defines it."""
    from olist_pipeline.cli import build_parser

    parser = build_parser()
    for step in pipeline.steps:
        if step.kind is Kind.COMMAND:
            argv = [
                a.replace(RUN_ID, "r1")
                .replace(DATA_DIR, "")
                .replace(INCREMENT_DIR, "/l/2018-01-01")
                for a in step.argv
            ]
            args = parser.parse_args(argv)  # exits (fails the test) on an unknown option
            assert callable(args.func), step.task_id
            if "--run-id" in argv:
                assert args.run_id == "r1"


@pytest.mark.parametrize("target", list(Target))
def test_the_batch_runs_once_per_daily_data_interval_and_catches_up(bags, target):
    from datetime import UTC, datetime

    from airflow.sdk import CronDataIntervalTimetable

    dag = bags[target].dags["olist_batch"]
    assert isinstance(dag.timetable, CronDataIntervalTimetable)
    assert dag.catchup is True and dag.max_active_runs == 1
    assert dag.start_date == datetime(2016, 9, 1, tzinfo=UTC)  # where the Olist data begins
    # A run covers one whole UTC day: the interval that started at its logical date.
    from airflow.serialization.encoders import coerce_to_core_timetable
    from airflow.timetables.base import TimeRestriction

    timetable = coerce_to_core_timetable(dag.timetable)
    first = timetable.next_dagrun_info(
        last_automated_data_interval=None,
        restriction=TimeRestriction(earliest=dag.start_date, latest=None, catchup=True),
    )
    assert first is not None and first.logical_date == first.data_interval.start
    assert (first.data_interval.start, first.data_interval.end) == (
        datetime(2016, 9, 1, tzinfo=UTC),
        datetime(2016, 9, 2, tzinfo=UTC),
    )
    # One-off folder off by default; the landing folder from the settings.
    assert dag.params["data_dir"] == ""
    landing = KIND_LANDING_DIR if target is Target.KIND else ".local/landing"
    assert dag.params["landing_dir"].endswith(landing)


def test_the_catchup_start_date_is_a_setting(monkeypatch):
    from datetime import UTC, datetime

    from olist_pipeline.airflow.dags import start_date

    monkeypatch.setenv("OLIST_BATCH_START_DATE", "2017-01-05")
    assert start_date(BATCH) == datetime(2017, 1, 5, tzinfo=UTC)
    monkeypatch.setenv("OLIST_BATCH_START_DATE", "soon")
    from olist_pipeline.config import ConfigError

    with pytest.raises(ConfigError, match="OLIST_BATCH_START_DATE='soon' is not a date"):
        start_date(BATCH)


def test_a_day_without_increment_skips_ingest_on_both_targets(bags):
    for tid in (f"ingest_{t}" for t in TABLES):
        assert BATCH.step(tid).skip_exit_codes == (5,)
        local = bags[Target.LOCAL].dags["olist_batch"].get_task(tid)
        assert local.op_kwargs["skip_exit_codes"] == [5]
        assert 5 not in local.op_kwargs["ok_exit_codes"]
        kind = bags[Target.KIND].dags["olist_batch"].get_task(tid)
        assert list(kind.skip_on_exit_code) == [5]
    # Everything downstream runs only when all upstreams succeeded, so a skipped
    # ingest skips the run's remaining tasks (and the failure-path publisher).
    dag = bags[Target.LOCAL].dags["olist_batch"]
    assert dag.get_task("dq_raw").trigger_rule == "all_success"


def test_the_local_runner_maps_exit_5_to_a_skip(tmp_path, monkeypatch):
    from airflow.sdk.exceptions import AirflowSkipException

    from olist_pipeline.airflow import tasks

    fake = tmp_path / "olist"
    fake.write_text("#!/bin/sh\necho no increment for 2018-01-01\nexit $1\n")
    fake.chmod(0o755)
    monkeypatch.setattr(tasks, "olist_executable", lambda: str(fake))
    with pytest.raises(AirflowSkipException, match="nothing to do"):
        tasks.run_olist(["5"], ok_exit_codes=[0, 3], skip_exit_codes=[5])
    assert tasks.run_olist(["3"], ok_exit_codes=[0, 3], skip_exit_codes=[5]) == 3


def test_the_kind_render_shows_the_interval_folder_of_the_rendered_day():
    from datetime import UTC, datetime

    from olist_pipeline.airflow.render import render_kind

    day = datetime(2017, 3, 4, tzinfo=UTC)
    pods = {r.task_id: r.manifest for r in render_kind(BATCH, interval_start=day)}
    args = pods["ingest_orders"]["spec"]["containers"][0]["args"]
    assert args[args.index("--increment") + 1] == f"{KIND_LANDING_DIR}/2017-03-04"
    assert args[args.index("--source") + 1] == ""
    # A one-off full folder still works through params.data_dir.
    pods = {r.task_id: r.manifest for r in render_kind(BATCH, conf={"data_dir": "/data/olist"})}
    args = pods["ingest_orders"]["spec"]["containers"][0]["args"]
    assert args[args.index("--source") + 1] == "/data/olist"


def test_the_full_refresh_param_reaches_every_spark_layer_and_parses():
    """A run triggered with {"full_refresh": true} rebuilds; by default the layers take the
    increment. The rendered argument is one the layers' own parser reads."""
    import argparse

    from olist_pipeline.airflow.render import render_kind
    from olist_pipeline.transform.options import add_full_refresh

    parser = argparse.ArgumentParser()
    add_full_refresh(parser)
    for conf, expected in (({}, False), ({"full_refresh": True}, True)):
        apps = {r.task_id: r.manifest for r in render_kind(BATCH, conf=conf)}
        spark = [s.task_id for s in BATCH.steps if s.kind is Kind.SPARK]
        assert spark == ["staging", "warehouse", "marts"]
        for task_id in spark:
            args = apps[task_id]["spec"]["arguments"]
            (flag,) = [a for a in args if a.startswith("--full-refresh")]
            assert parser.parse_args([flag]).full_refresh is expected, (task_id, flag)
    assert parser.parse_args([]).full_refresh is False
    assert parser.parse_args(["--full-refresh"]).full_refresh is True
    with pytest.raises(SystemExit):
        parser.parse_args(["--full-refresh=maybe"])


def test_the_retry_delay_is_a_setting_that_never_changes_the_retries(monkeypatch):
    from datetime import timedelta

    from olist_pipeline.airflow.dags import build_dag
    from olist_pipeline.config import ConfigError

    step = BATCH.step("ingest_orders")
    monkeypatch.delenv("OLIST_AIRFLOW_RETRY_DELAY_SECONDS", raising=False)
    assert build_dag(BATCH, Target.KIND).get_task(step.task_id).retry_delay == step.retry.delay
    monkeypatch.setenv("OLIST_AIRFLOW_RETRY_DELAY_SECONDS", "1.5")
    for target in Target:
        task = build_dag(BATCH, target).get_task(step.task_id)
        assert task.retry_delay == timedelta(seconds=1.5)
        assert task.retries == step.retry.retries
        assert task.retry_exponential_backoff == step.retry.backoff
    for bad in ("0", "-3", "soon"):
        monkeypatch.setenv("OLIST_AIRFLOW_RETRY_DELAY_SECONDS", bad)
        with pytest.raises(ConfigError, match="is not a positive number of seconds"):
            build_dag(BATCH, Target.KIND)
