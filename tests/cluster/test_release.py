"""Our chart's release on the local control plane: install, RBAC, upgrade, uninstall.

The tests run in the order written (one release for the module): the install with
``helm install --wait --wait-for-jobs``; what the API server decides about our
identities; the upgrade with a new image tag through ``k8s/platform.sh install-app``
(the step ``make deploy`` runs); the uninstall through ``platform.sh uninstall-app``.
Pods run on kwok's simulated node: scheduled for real, their status written by
kwok (no container runs).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from olist_pipeline.stack.cluster import NODE_NAME
from tests.charts.conftest import CI_VALUES
from tests.cluster.conftest import RELEASE, Kube, install_release, uninstall_release

NS = "olist"
JOB_NAMESPACES = ("olist-jobs", "spark-jobs")
INSTANCE = f"app.kubernetes.io/instance={RELEASE}"
FIRST_TAG = "cluster-tier-1"
SECOND_TAG = "cluster-tier-2"
# What kubectl lists of ours after the uninstall (everything namespaced and labelled).
OUR_KINDS = (
    "deployments,jobs,pods,services,configmaps,secrets,serviceaccounts,roles,rolebindings,"
    "networkpolicies,poddisruptionbudgets,persistentvolumeclaims,kafkatopics,servicemonitors,"
    "prometheusrules"
)


def _items(kube: Kube, *args: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = kube.json("get", *args)["items"]
    return items


@pytest.fixture(scope="module")
def release(namespaces: Kube) -> Iterator[Kube]:
    kube = namespaces
    install_release(kube, FIRST_TAG)
    try:
        yield kube
    finally:
        uninstall_release(kube)


def test_install_ran_every_job_on_the_simulated_node(release: Kube) -> None:
    status = json.loads(release.helm("status", RELEASE, "-n", NS, "-o", "json").stdout)
    assert status["info"]["status"] == "deployed"
    # The migration is a post-install hook, deleted once it succeeded; its events stay.
    events = _items(release, "events", "-n", NS)
    completed = [
        e for e in events
        if e["involvedObject"]["kind"] == "Job"
        and e["involvedObject"]["name"] == f"{RELEASE}-migrate"
        and e["reason"] == "Completed"
    ]  # fmt: skip
    assert completed, "the migration hook Job never completed"
    scheduled = [
        e for e in events
        if e["reason"] == "Scheduled"
        and e["involvedObject"]["name"].startswith(f"{RELEASE}-migrate-")
    ]  # fmt: skip
    assert scheduled and f"to {NODE_NAME}" in scheduled[0]["message"]
    # The release's ordinary Jobs (source data, producer) completed on the node.
    for ns in (NS, "olist-jobs"):
        for job in _items(release, "jobs", "-n", ns, "-l", INSTANCE):
            assert job["status"].get("succeeded") == 1, job["metadata"]["name"]
    pods = _items(release, "pods", "-A", "-l", INSTANCE)
    assert pods
    assert {p["spec"]["nodeName"] for p in pods} == {NODE_NAME}
    for deploy in _items(release, "deployments", "-n", NS, "-l", INSTANCE):
        assert deploy["status"].get("availableReplicas") == deploy["spec"]["replicas"]


def test_scheduler_places_pods_against_their_requests(release: Kube) -> None:
    """A pod asking for more CPU than the node has stays Pending: scheduling is real."""
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "too-big", "namespace": "default"},
        "spec": {
            "restartPolicy": "Never",
            "containers": [
                {
                    "name": "c",
                    "image": "example.invalid/x:1",
                    "resources": {"requests": {"cpu": "64"}},
                }
            ],
        },
    }
    release.kubectl("apply", "-f", "-", stdin=json.dumps(pod))
    try:

        def scheduling() -> dict[str, Any]:
            got = release.json("get", "pod", "too-big", "-n", "default")
            conds = got["status"].get("conditions", [])
            return next((c for c in conds if c["type"] == "PodScheduled"), {})

        release.poll("a scheduling decision", lambda: bool(scheduling()), timeout=60)
        cond = scheduling()
        assert cond["status"] == "False" and cond["reason"] == "Unschedulable"
        assert "Insufficient cpu" in cond["message"]
        got = release.json("get", "pod", "too-big", "-n", "default")
        assert got["status"]["phase"] == "Pending" and not got["spec"].get("nodeName")
    finally:
        release.kubectl("delete", "pod", "too-big", "-n", "default", "--wait=false")


AIRFLOW_WORKER = "system:serviceaccount:airflow:airflow-worker"
AIRFLOW_TRIGGERER = "system:serviceaccount:airflow:airflow-triggerer"
WORKLOAD = f"system:serviceaccount:{NS}:{RELEASE}-workload"  # consumers and producer
MIGRATE = f"system:serviceaccount:{NS}:{RELEASE}-migrate"
JOB_POD = "system:serviceaccount:olist-jobs:olist-jobs"
LAUNCH = [
    ("create", "pods"),
    ("watch", "pods"),
    ("delete", "pods"),
    ("get", "pods/log"),
    ("create", "sparkapplications.sparkoperator.k8s.io"),
    ("watch", "sparkapplications.sparkoperator.k8s.io"),
    ("delete", "sparkapplications.sparkoperator.k8s.io"),
]
OTHER_NAMESPACES = ("olist", "airflow", "default", "kube-system", "kafka", "monitoring")


@pytest.mark.parametrize("who", [AIRFLOW_WORKER, AIRFLOW_TRIGGERER])
def test_airflow_launches_pods_and_spark_apps_only_in_the_job_namespaces(
    release: Kube, who: str
) -> None:
    for ns in JOB_NAMESPACES:
        for verb, resource in LAUNCH:
            assert release.can_i(verb, resource, ns, as_user=who), (who, verb, resource, ns)
        # Launching is all: no Secrets, no RBAC edits, no Deployments there.
        for verb, resource in [
            ("get", "secrets"),
            ("list", "secrets"),
            ("create", "roles.rbac.authorization.k8s.io"),
            ("create", "deployments.apps"),
        ]:
            assert not release.can_i(verb, resource, ns, as_user=who), (who, verb, resource, ns)
    for ns in OTHER_NAMESPACES:
        for verb, resource in LAUNCH:
            assert not release.can_i(verb, resource, ns, as_user=who), (who, verb, resource, ns)


SECRETS_OF_OTHERS = [
    (NS, "olist-pg-superuser"),
    (NS, f"{RELEASE}-db-loader"),
    (NS, f"{RELEASE}-db-transformer"),
    (NS, f"{RELEASE}-db-reader"),
    (NS, f"{RELEASE}-db-stream"),
    ("olist-jobs", f"{RELEASE}-db-loader"),
    ("monitoring", f"{RELEASE}-db-reader"),
    ("airflow", "airflow-metadata"),
]


@pytest.mark.parametrize("who", [WORKLOAD, MIGRATE, JOB_POD])
def test_component_identities_read_no_secrets_and_create_no_pods(release: Kube, who: str) -> None:
    # Their own logins reach them as environment from the Secret (kubelet), not via the API.
    for ns, name in SECRETS_OF_OTHERS:
        assert not release.can_i("get", "secrets", ns, as_user=who, name=name), (who, ns, name)
    for ns in (*JOB_NAMESPACES, *OTHER_NAMESPACES):
        assert not release.can_i("list", "secrets", ns, as_user=who), (who, ns)
        assert not release.can_i("create", "pods", ns, as_user=who), (who, ns)
        assert not release.can_i(
            "create", "sparkapplications.sparkoperator.k8s.io", ns, as_user=who
        ), (who, ns)


def test_network_policies_are_accepted(release: Kube) -> None:
    """Stored by the API server as rendered. Enforcement needs a CNI, which this
    cluster has not: nothing here says traffic is actually restricted."""
    policies = _items(release, "networkpolicies", "-n", NS, "-l", INSTANCE)
    assert policies
    for policy in policies:
        assert policy["spec"]["podSelector"] is not None
        assert policy["spec"].get("policyTypes"), policy["metadata"]["name"]


def _job_names(kube: Kube) -> set[str]:
    return {
        f"{j['metadata']['namespace']}/{j['metadata']['name']}"
        for j in _items(kube, "jobs", "-A", "-l", INSTANCE)
    }


def test_upgrade_with_a_new_image_tag(release: Kube) -> None:
    """The re-deploy `make deploy` does (platform.sh install-app): Jobs are immutable, so
    a new image must come as new Jobs, never as a patched pod template."""
    before = _job_names(release)
    release.platform("install-app", SECOND_TAG, env={"OLIST_VALUES": str(CI_VALUES)})
    status = json.loads(release.helm("status", RELEASE, "-n", NS, "-o", "json").stdout)
    assert status["version"] == 2 and status["info"]["status"] == "deployed"
    for deploy in _items(release, "deployments", "-n", NS, "-l", INSTANCE):
        images = {c["image"] for c in deploy["spec"]["template"]["spec"]["containers"]}
        assert all(i.endswith(f":{SECOND_TAG}") for i in images), images
    after = _job_names(release)
    assert after and not (after & before), (before, after)
    for name in after:
        ns, job = name.split("/")
        release.kubectl("-n", ns, "wait", f"job/{job}", "--for=condition=Complete",
                        "--timeout=120s")  # fmt: skip


def test_uninstall_leaves_nothing_of_ours(release: Kube) -> None:
    release.platform("uninstall-app")
    assert release.helm("status", RELEASE, "-n", NS, check=False).returncode != 0
    left = _items(release, OUR_KINDS, "-A", "-l", INSTANCE)
    # The source-data claim is kept on purpose (helm.sh/resource-policy: keep): the
    # generated files outlive a re-install. Anything else left is a leak.
    kept = [
        o for o in left
        if o["metadata"].get("annotations", {}).get("helm.sh/resource-policy") == "keep"
    ]  # fmt: skip
    assert [o["metadata"]["name"] for o in kept] == ["olist-source-data"]
    leaked = [f"{o['kind']}/{o['metadata']['name']}" for o in left if o not in kept]
    # Pods of deleted Jobs/ReplicaSets go through graceful deletion first.
    assert [name for name in leaked if not name.startswith("Pod/")] == []
    deadline = time.monotonic() + 60
    while _items(release, "pods", "-A", "-l", INSTANCE) and time.monotonic() < deadline:
        time.sleep(1)
    assert _items(release, "pods", "-A", "-l", INSTANCE) == []
