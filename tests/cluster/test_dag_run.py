"""The kind-target ``olist_batch`` DAG, run by Airflow against the local API server.

Airflow runs the DAG as ``make run`` does (``local_run.run_dag``: ``dag.test()`` in
a child process, its own SQLite metadata database), but with ``OLIST_ENV=kind``:
the real KubernetesPodOperator and SparkKubernetesOperator of the
cncf.kubernetes provider, connected through Airflow's ``kubernetes_default``
connection with a kubeconfig holding a token of Airflow's worker service
account (``airflow/airflow-worker``), so what the operators may do is what our
chart's RBAC grants them, decided by the API server. Our chart's release (its
ConfigMap, login Secrets, job service account, source-data claim) is installed
first, as on a cluster.

What is real: the pod specs our DAG renders, their admission, the scheduler
placing each pod against its requests on the simulated node (a ``Scheduled``
event per pod), pod logs followed through the API server to the node's log
endpoint, Airflow's task states, retries and trigger rules, the run's state.

What is simulated, and how:

- No container runs. kwok writes each pod's status (Running, then Succeeded,
  ``src/olist_pipeline/stack/kwok-stages.yaml``); a pod labelled
  ``olist.io/simulate-exit=failed`` ends Failed with exit code 1 instead. The
  label is set only by this tier's own Airflow ``pod_mutation_hook``
  (``tests/cluster/airflow_local_settings.py``), for one task of one run.
- The Kubeflow Spark Operator cannot be built here, so a second kwok plays it
  (``src/olist_pipeline/stack/kwok-sparkapps.yaml``, started once the CRDs are
  installed): for each SparkApplication it creates the driver pod
  ``<app>-driver`` from the application's driver spec (as Spark 4.2 sizes it,
  owned by the application) and moves the status SUBMITTED -> RUNNING ->
  COMPLETED (or FAILED when the driver is labelled as above). No executor pod
  is made (no driver code runs to request one). That Spark's own Kubernetes
  client can submit a driver pod to this API server is proven on its own in
  ``test_spark_submit.py``.
- Retries keep the definition's counts; their delay is shortened through the
  setting ``OLIST_AIRFLOW_RETRY_DELAY_SECONDS`` (1 s, doubling per try as the
  definition's 30 s would), so the failing run takes seconds, not minutes.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from olist_pipeline.airflow import k8s
from olist_pipeline.airflow.definition import BATCH, Kind
from olist_pipeline.airflow.local_run import DagRunResult, run_dag
from olist_pipeline.config import KIND_LANDING_DIR, Settings
from olist_pipeline.stack.cluster import NODE_NAME
from tests.cluster import airflow_local_settings as hook
from tests.cluster.conftest import CONTEXT, Kube, install_release, uninstall_release

HERE = Path(__file__).parent
RUN_OK = "cluster-tier-ok"
# The day whose data interval both runs cover; the one-off source folder is the mounted claim.
DAY = datetime(2026, 1, 1, tzinfo=UTC)
CONF = {"data_dir": k8s.SOURCE_DATA_PATH, "landing_dir": str(KIND_LANDING_DIR)}
AIRFLOW_NS = "airflow"
AIRFLOW_WORKER = "airflow-worker"
JOB_NAMESPACES = (k8s.JOBS_NAMESPACE, k8s.SPARK_NAMESPACE)
SPARK_API = "/apis/sparkoperator.k8s.io/v1beta2"
WATCH_EVENT = "watchEvent"


# ---- what the API server saw during a run -------------------------------------------


class ApiWatch:
    """A watch of the API server from a known resource version: no event is missed."""

    def __init__(self, kube: Kube, path: str, out: Path, **query: str) -> None:
        listed = json.loads(kube.kubectl("get", "--raw", f"{path}?limit=1").stdout)
        params = {
            "watch": "1",
            "resourceVersion": listed["metadata"]["resourceVersion"],
            "timeoutSeconds": "900",
            **query,
        }
        self.out = out
        self._file = out.open("w", encoding="utf-8")
        self._proc = subprocess.Popen(
            [str(kube.kubectl_bin), "--context", CONTEXT, "get", "--raw",
             f"{path}?{urllib.parse.urlencode(params)}"],
            stdout=self._file, stderr=subprocess.DEVNULL, env=kube.env,
        )  # fmt: skip

    def stop(self) -> list[dict[str, Any]]:
        """Every object state seen, in order; ``WATCH_EVENT`` says ADDED, MODIFIED or DELETED."""
        self._proc.terminate()
        self._proc.wait(timeout=10)
        self._file.close()
        states = []
        for line in self.out.read_text("utf-8").splitlines():
            if line.strip():
                event = json.loads(line)
                states.append({**event["object"], WATCH_EVENT: event["type"]})
        return states


def _by_name(states: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for obj in states:
        out.setdefault(obj["metadata"]["name"], []).append(obj)
    return out


@dataclass(frozen=True)
class Run:
    result: DagRunResult
    pods: dict[str, list[dict[str, Any]]]  # pod name -> its states, oldest first
    apps: dict[str, list[dict[str, Any]]]  # SparkApplication name -> its states
    scheduled: dict[str, str]  # pod uid -> the scheduler's "Scheduled" message
    rendered: dict[str, dict[str, Any]]  # task id -> what our DAG renders for it

    def pods_of(self, task_id: str) -> dict[str, list[dict[str, Any]]]:
        return {
            name: states
            for name, states in self.pods.items()
            if states[0]["metadata"]["labels"].get("task_id") == task_id
        }


# ---- Airflow, pointed at the cluster as its worker identity ---------------------------


@dataclass(frozen=True)
class KindAirflow:
    settings: Settings
    home: Path
    env: dict[str, str]


def _service_account(kube: Kube, namespace: str, name: str) -> None:
    sa = {"apiVersion": "v1", "kind": "ServiceAccount",
          "metadata": {"name": name, "namespace": namespace}}  # fmt: skip
    kube.kubectl("apply", "--server-side", "--field-manager=olist-tests", "-f", "-",
                 stdin=json.dumps(sa))  # fmt: skip


def _worker_kubeconfig(kube: Kube, target: Path) -> None:
    """A kubeconfig of Airflow's worker service account (a bound token, 2 h)."""
    # The Airflow chart creates this account on a cluster; it is not installed here.
    _service_account(kube, AIRFLOW_NS, AIRFLOW_WORKER)
    token = kube.kubectl("-n", AIRFLOW_NS, "create", "token", AIRFLOW_WORKER,
                         "--duration=2h").stdout.strip()  # fmt: skip
    admin = kube.json("config", "view", "--minify", "--raw")
    cluster = admin["clusters"][0]["cluster"]
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": CONTEXT, "cluster": cluster}],
        "users": [{"name": AIRFLOW_WORKER, "user": {"token": token}}],
        "contexts": [{"name": CONTEXT, "context": {"cluster": CONTEXT, "user": AIRFLOW_WORKER}}],
        "current-context": CONTEXT,
    }
    target.write_text(json.dumps(config), "utf-8")
    target.chmod(0o600)


@pytest.fixture(scope="module")
def kind_airflow(
    namespaces: Kube,
    cluster_settings: Settings,
    tmp_path_factory: pytest.TempPathFactory,
    request: pytest.FixtureRequest,
) -> Iterator[KindAirflow]:
    kube = namespaces
    request.getfixturevalue("spark_operator_simulation")
    install_release(kube, "cluster-tier-dag")
    # The Spark Operator chart's job account, which the driver pods run as.
    _service_account(kube, k8s.SPARK_NAMESPACE, k8s.SPARK_SERVICE_ACCOUNT)
    home = tmp_path_factory.mktemp("airflow-kind")
    (home / "config").mkdir()
    shutil.copy(HERE / "airflow_local_settings.py", home / "config" / "airflow_local_settings.py")
    kubeconfig = home / "airflow-worker.kubeconfig"
    _worker_kubeconfig(kube, kubeconfig)
    connection = {
        "conn_type": "kubernetes",
        "extra": {"kube_config_path": str(kubeconfig), "in_cluster": False},
    }
    env = {
        "OLIST_ENV": "kind",
        "AIRFLOW_CONN_KUBERNETES_DEFAULT": json.dumps(connection),
        "OLIST_AIRFLOW_RETRY_DELAY_SECONDS": "1",
        # Nothing of the local stack is used: no Pushgateway to count failures on.
        "OLIST_PUSHGATEWAY_URL": "",
    }
    try:
        yield KindAirflow(cluster_settings, home, env)
    finally:
        for ns in JOB_NAMESPACES:
            # The failed pods Airflow keeps for debugging (on_finish_action).
            kube.kubectl("-n", ns, "delete", "pods", "-l", "dag_id=olist_batch",
                         "--wait=false", check=False)  # fmt: skip
        uninstall_release(kube)


def _render(airflow: KindAirflow, run_id: str) -> dict[str, dict[str, Any]]:
    """What our DAG renders for each task of the run (``render_kind``), in a child
    process: Airflow reads AIRFLOW_HOME once, at its first import."""
    out = airflow.home / f"rendered-{run_id}.json"
    code = (
        "import json, sys\n"
        "from datetime import datetime\n"
        "from olist_pipeline.airflow.definition import BATCH\n"
        "from olist_pipeline.airflow.render import render_kind\n"
        "run_id, conf, start, out = sys.argv[1:5]\n"
        "r = render_kind(BATCH, run_id, json.loads(conf), datetime.fromisoformat(start))\n"
        "open(out, 'w').write(json.dumps({x.task_id: x.manifest for x in r}))\n"
    )
    env = {**airflow.env, "AIRFLOW_HOME": str(airflow.home)}
    done = subprocess.run(
        [sys.executable, "-c", code, run_id, json.dumps({"run_id": run_id, **CONF}),
         DAY.isoformat(), str(out)],
        capture_output=True, text=True, check=False, timeout=300,
        env={**os.environ, **env},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    rendered: dict[str, dict[str, Any]] = json.loads(out.read_text("utf-8"))
    return rendered


def _run(kube: Kube, airflow: KindAirflow, run_id: str) -> Run:
    pods = ApiWatch(kube, "/api/v1/pods", airflow.home / f"pods-{run_id}.jsonl",
                    labelSelector="dag_id=olist_batch")  # fmt: skip
    apps = ApiWatch(kube, f"{SPARK_API}/namespaces/{k8s.SPARK_NAMESPACE}/sparkapplications",
                    airflow.home / f"apps-{run_id}.jsonl")  # fmt: skip
    try:
        result = run_dag(
            airflow.settings, BATCH.dag_id, run_id, CONF,
            airflow_home=airflow.home, extra_env=airflow.env, timeout_s=900,
            # dag.test() gives a manual run the interval that ended before its logical
            # date: the end of DAY makes it exactly [DAY, DAY + 1).
            logical_date=DAY + timedelta(days=1),
        )  # fmt: skip
    finally:
        pod_states, app_states = pods.stop(), apps.stop()
    mine = [p for p in pod_states if run_id in _container(p).get("args", [])]
    mine_apps = [a for a in app_states if run_id in a["spec"].get("arguments", [])]
    scheduled = {}
    for ns in JOB_NAMESPACES:
        events = kube.json("-n", ns, "get", "events", "--field-selector=reason=Scheduled")
        for e in events["items"]:
            scheduled[e["involvedObject"]["uid"]] = e["message"]
    return Run(result, _by_name(mine), _by_name(mine_apps), scheduled, _render(airflow, run_id))


def _container(pod: dict[str, Any]) -> dict[str, Any]:
    containers: list[dict[str, Any]] = pod["spec"]["containers"]
    return containers[0]


@pytest.fixture(scope="module")
def ok_run(namespaces: Kube, kind_airflow: KindAirflow) -> Run:
    return _run(namespaces, kind_airflow, RUN_OK)


@pytest.fixture(scope="module")
def failing_run(namespaces: Kube, kind_airflow: KindAirflow, ok_run: Run) -> Run:
    # After the successful run: one metadata database, migrated once.
    return _run(namespaces, kind_airflow, hook.FAILING_RUN)


# ---- the successful run ------------------------------------------------------------------


def _states(run: Run) -> dict[str, tuple[str | None, int]]:
    return {t.task_id: (t.state, t.try_number) for t in run.result.tasks}


def test_the_run_succeeds_with_every_task_on_its_first_try(ok_run: Run) -> None:
    assert ok_run.result.ok, f"{ok_run.result.state}; see {ok_run.result.log_file}"
    expected = {s.task_id: ("success", 1) for s in BATCH.steps}
    # Only runs when a step failed: skipped by its trigger rule.
    expected["publish_metrics_on_failure"] = ("skipped", 0)
    got = _states(ok_run)
    got["publish_metrics_on_failure"] = (got["publish_metrics_on_failure"][0], 0)
    assert got == expected


def _pod_shape(pod: dict[str, Any]) -> dict[str, Any]:
    """The parts of a pod our DAG decides (names, labels and defaults aside)."""
    spec, c = pod["spec"], _container(pod)
    keys = ("name", "image", "imagePullPolicy", "command", "args", "envFrom", "resources",
            "securityContext", "volumeMounts")  # fmt: skip
    return {
        "namespace": pod["metadata"].get("namespace"),
        "serviceAccountName": spec.get("serviceAccountName"),
        "automountServiceAccountToken": spec.get("automountServiceAccountToken"),
        "securityContext": spec.get("securityContext"),
        "activeDeadlineSeconds": spec.get("activeDeadlineSeconds"),
        "restartPolicy": spec.get("restartPolicy"),
        "volumes": spec.get("volumes"),
        "container": {k: c.get(k) for k in keys},
    }


def _assert_scheduled_and_completed(run: Run, name: str, states: list[dict[str, Any]]) -> None:
    last = states[-1]
    uid = last["metadata"]["uid"]
    assert last["spec"].get("nodeName") == NODE_NAME, name
    # Placed by the scheduler (its event), not by whoever created the pod.
    assert f"to {NODE_NAME}" in run.scheduled.get(uid, ""), (name, run.scheduled.get(uid))
    phases = [s["status"].get("phase") for s in states]
    assert "Running" in phases and phases[-1] == "Succeeded", (name, phases)


def test_every_command_pod_is_our_rendered_spec_scheduled_and_completed(ok_run: Run) -> None:
    for step in BATCH.steps:
        if step.kind is not Kind.COMMAND or step.task_id == "publish_metrics_on_failure":
            continue
        pods = ok_run.pods_of(step.task_id)
        assert len(pods) == 1, (step.task_id, sorted(pods))
        ((name, states),) = pods.items()
        rendered = ok_run.rendered[step.task_id]
        assert _pod_shape(states[0]) == _pod_shape(rendered), step.task_id
        # Its requests are the definition's, and the node had room for them.
        requests = _container(states[0])["resources"]["requests"]
        assert requests == {"cpu": step.resources.cpu, "memory": step.resources.memory}
        _assert_scheduled_and_completed(ok_run, name, states)
        # Succeeded pods are deleted by the operator (on_finish_action=delete_succeeded_pod).
        assert states[-1]["metadata"].get("deletionTimestamp"), name


def test_every_spark_step_went_through_the_simulated_operator(ok_run: Run) -> None:
    spark_steps = [s for s in BATCH.steps if s.kind is Kind.SPARK]
    assert len(ok_run.apps) == len(spark_steps)
    for step in spark_steps:
        apps = {
            n: s for n, s in ok_run.apps.items()
            if s[0]["spec"]["driver"]["labels"].get("task_id") == step.task_id
        }  # fmt: skip
        assert len(apps) == 1, (step.task_id, sorted(ok_run.apps))
        ((app_name, app_states),) = apps.items()
        created = app_states[0]
        rendered = ok_run.rendered[step.task_id]
        # Our template, as the operator submits it: only labels and the app name env added.
        for key in ("image", "mainApplicationFile", "arguments", "sparkVersion", "type", "mode"):
            assert created["spec"][key] == rendered["spec"][key], (step.task_id, key)
        for role in ("driver", "executor"):
            for key in ("cores", "memory", "serviceAccount", "envFrom"):
                got, want = created["spec"][role].get(key), rendered["spec"][role].get(key)
                assert got == want, (step.task_id, role, key)
        seen = [s.get("status", {}).get("applicationState", {}).get("state") for s in app_states]
        order = [x for i, x in enumerate(seen) if x and x not in seen[:i]]
        # The operator deletes the application once the driver pod succeeded, which may
        # be before the simulation reached COMPLETED.
        assert order in (["SUBMITTED", "RUNNING"], ["SUBMITTED", "RUNNING", "COMPLETED"]), (
            step.task_id, seen,
        )  # fmt: skip
        # The operator deletes its application when the task ends (delete_on_termination).
        assert app_states[-1][WATCH_EVENT] == "DELETED", app_name
        driver = ok_run.pods.get(f"{app_name}-driver")
        assert driver, (app_name, sorted(ok_run.pods))
        c = _container(driver[0])
        assert c["name"] == "spark-kubernetes-driver" and c["image"] == k8s.IMAGE
        assert driver[0]["spec"]["serviceAccountName"] == k8s.SPARK_SERVICE_ACCOUNT
        assert f"local://{k8s.SPARK_APPS_DIR}/{step.job}.py" in c["args"]
        assert c["resources"]["requests"]["cpu"] == str(step.resources.driver_cores)
        _assert_scheduled_and_completed(ok_run, f"{app_name}-driver", driver)


def test_nothing_of_the_successful_run_is_left(namespaces: Kube, ok_run: Run) -> None:
    def left() -> list[str]:
        names = []
        for ns in JOB_NAMESPACES:
            for pod in namespaces.json("-n", ns, "get", "pods", "-l", "dag_id=olist_batch")[
                "items"
            ]:
                if RUN_OK in _container(pod).get("args", []):
                    names.append(pod["metadata"]["name"])
        apps = namespaces.json("-n", k8s.SPARK_NAMESPACE, "get", "sparkapplications")["items"]
        # The release's own (the live job's) application stays; the run's must be gone.
        return names + [
            a["metadata"]["name"] for a in apps if RUN_OK in a["spec"].get("arguments", [])
        ]

    deadline = time.monotonic() + 60
    while (remaining := left()) and time.monotonic() < deadline:
        time.sleep(1)
    assert remaining == [], "left of the run (pods, SparkApplications)"


# ---- the failing run ---------------------------------------------------------------------


def test_a_failing_pod_fails_its_task_after_the_definitions_retries(failing_run: Run) -> None:
    step = BATCH.step(hook.FAILING_TASK)
    result = failing_run.result
    assert result.state == "failed", f"{result.state}; see {result.log_file}"
    states = _states(failing_run)
    # Every try ran, as many as the definition gives, then the task failed.
    assert states[step.task_id] == ("failed", step.retry.retries + 1)
    pods = failing_run.pods_of(step.task_id)
    assert len(pods) == step.retry.retries + 1, sorted(pods)
    for name, pod_states in pods.items():
        assert pod_states[0]["metadata"]["labels"][hook.SIMULATE_EXIT_LABEL] == "failed"
        phases = [s["status"].get("phase") for s in pod_states]
        assert "Failed" in phases and "Succeeded" not in phases, (name, phases)
        terminated = _container_state(pod_states)
        assert terminated.get("exitCode") == 1, (name, terminated)
        assert pod_states[-1]["spec"].get("nodeName") == NODE_NAME
        # Failed pods are kept for debugging (on_finish_action=delete_succeeded_pod).
        assert pod_states[-1][WATCH_EVENT] != "DELETED", name
    # The other ingest tasks are unaffected; the rest of the chain never starts; the
    # failure's metrics step runs (trigger rule one_failed), and the run fails.
    for s in BATCH.steps:
        if s.task_id.startswith("ingest_") and s.task_id != step.task_id:
            assert states[s.task_id] == ("success", 1), s.task_id
    for task_id in ("dq_raw", "staging", "dq_staging", "warehouse", "marts", "publish_metrics"):
        assert states[task_id][0] == "upstream_failed", task_id
    assert states["publish_metrics_on_failure"] == ("success", 1)
    assert not failing_run.apps, "no Spark step may start after a failed ingest"


def _container_state(states: list[dict[str, Any]]) -> dict[str, Any]:
    for s in reversed(states):
        for cs in s["status"].get("containerStatuses", []):
            term: dict[str, Any] = cs.get("state", {}).get("terminated") or {}
            if term:
                return term
    return {}


@pytest.mark.usefixtures("spark_operator_simulation")
def test_a_failing_driver_fails_its_spark_application(namespaces: Kube) -> None:
    """The simulated operator's FAILED path, on an application of our template."""
    kube = namespaces
    with (HERE.parents[1] / "spark-apps" / "k8s" / "staging.yaml").open() as f:
        import yaml

        app = yaml.safe_load(f)
    app["metadata"]["name"] = "olist-staging-fails"
    app["spec"]["arguments"] = ["--run-id", "cluster-tier-driver-fails"]
    app["spec"]["driver"]["labels"][hook.SIMULATE_EXIT_LABEL] = "failed"
    ns = k8s.SPARK_NAMESPACE
    kube.kubectl("-n", ns, "delete", "sparkapplication", "olist-staging-fails",
                 "--ignore-not-found", "--wait=true")  # fmt: skip
    _service_account(kube, ns, k8s.SPARK_SERVICE_ACCOUNT)
    kube.kubectl("create", "-f", "-", stdin=json.dumps(app))
    try:
        kube.kubectl("-n", ns, "wait", "sparkapplication/olist-staging-fails", "--timeout=60s",
                     "--for=jsonpath={.status.applicationState.state}=FAILED")  # fmt: skip
        kube.kubectl("-n", ns, "wait", "pod/olist-staging-fails-driver", "--timeout=60s",
                     "--for=jsonpath={.status.phase}=Failed")  # fmt: skip
        got = kube.json("-n", ns, "get", "sparkapplication", "olist-staging-fails")
        assert "ExitCode: 1" in got["status"]["applicationState"]["errorMessage"]
    finally:
        kube.kubectl("-n", ns, "delete", "sparkapplication", "olist-staging-fails",
                     "--ignore-not-found", "--wait=false", check=False)  # fmt: skip
