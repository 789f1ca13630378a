"""The local control plane itself: versions, a Ready simulated node, RBAC on, strict fields."""

from __future__ import annotations

import json

from olist_pipeline.stack.cluster import NODE_NAME
from tests.cluster.conftest import Kube
from tests.k8s_validate import pinned_versions


def test_server_is_the_pinned_kubernetes(kube: Kube) -> None:
    version = kube.json("version")
    assert version["serverVersion"]["gitVersion"] == pinned_versions()["KUBE_TOOLS_VERSION"]
    # The control plane is of the minor the kind target pins.
    minor = pinned_versions()["KUBERNETES_VERSION"].split(".")[1]
    assert version["serverVersion"]["minor"] == minor


def test_simulated_node_is_ready_and_schedulable(kube: Kube) -> None:
    node = kube.json("get", "node", NODE_NAME)
    ready = [c for c in node["status"]["conditions"] if c["type"] == "Ready"]
    assert ready and ready[0]["status"] == "True"
    assert not node["spec"].get("unschedulable", False)
    assert int(node["status"]["allocatable"]["pods"]) > 0


def test_rbac_is_enforced(kube: Kube) -> None:
    # An authenticated user with no binding is refused by the API server's RBAC.
    assert not kube.can_i("list", "secrets", "default", as_user="nobody@example.org")
    assert not kube.can_i("create", "pods", "kube-system", as_user="nobody@example.org")
    assert kube.can_i("list", "secrets", "default", as_user="system:admin-probe") is False


def test_strict_field_validation_refuses_an_unknown_field(kube: Kube, crds: list[str]) -> None:
    """The negative control of every strict apply in this tier: it can fail."""
    bogus_cm = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "strict-probe", "namespace": "default"},
        "data": {"a": "b"},
        "bogusField": True,
    }
    out = kube.kubectl(
        "apply", "--server-side", "--dry-run=server", "--validate=strict", "-f", "-",
        stdin=json.dumps(bogus_cm), check=False,
    )  # fmt: skip
    assert out.returncode != 0
    assert ".bogusField: field not declared in schema" in out.stderr
    bogus_topic = {
        "apiVersion": "kafka.strimzi.io/v1",
        "kind": "KafkaTopic",
        "metadata": {"name": "strict-probe", "namespace": "default"},
        "spec": {"partitions": 1, "replicas": 1, "bogusField": 1},
    }
    out = kube.kubectl(
        "apply", "--server-side", "--dry-run=server", "--validate=strict", "-f", "-",
        stdin=json.dumps(bogus_topic), check=False,
    )  # fmt: skip
    assert out.returncode != 0
    assert "bogusField" in out.stderr
    assert "field not declared in schema" in out.stderr or "unknown field" in out.stderr


def _job(name: str, *, fail: bool, backoff_limit: int) -> dict[str, object]:
    labels = {"olist.io/simulate-exit": "failed"} if fail else {}
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "backoffLimit": backoff_limit,
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": "c", "image": "example.invalid/x:1"}],
                },
            },
        },
    }


def test_a_bare_run_to_completion_pod_succeeds(kube: Kube) -> None:
    """What a KubernetesPodOperator pod looks like: no owner, restartPolicy Never."""
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "bare-probe", "namespace": "default"},
        "spec": {
            "restartPolicy": "Never",
            "containers": [{"name": "c", "image": "example.invalid/x:1"}],
        },
    }
    kube.kubectl("apply", "-f", "-", stdin=json.dumps(pod))
    try:
        kube.kubectl(
            "-n", "default", "wait", "pod/bare-probe", "--timeout=60s",
            "--for=jsonpath={.status.phase}=Succeeded",
        )  # fmt: skip
        got = kube.json("-n", "default", "get", "pod", "bare-probe")
        assert got["spec"]["nodeName"] == NODE_NAME
        state = got["status"]["containerStatuses"][0]["state"]["terminated"]
        assert state["exitCode"] == 0
    finally:
        kube.kubectl("-n", "default", "delete", "pod", "bare-probe", "--wait=false")


def test_pod_logs_come_through_the_api_server_and_a_follow_ends(kube: Kube) -> None:
    """The operators follow every pod's log (get_logs=True): the API server forwards the
    request to the node's kubelet endpoint (the node-logs service), and a followed stream
    ends once the container is done instead of hanging until the reader's timeout."""
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "log-probe", "namespace": "default"},
        "spec": {
            "restartPolicy": "Never",
            "containers": [{"name": "base", "image": "example.invalid/x:1"}],
        },
    }
    kube.kubectl("apply", "-f", "-", stdin=json.dumps(pod))
    try:
        kube.kubectl(
            "-n", "default", "wait", "pod/log-probe", "--timeout=60s",
            "--for=jsonpath={.status.phase}=Succeeded",
        )  # fmt: skip
        out = kube.kubectl("-n", "default", "logs", "--follow", "--timestamps", "log-probe",
                           timeout=30)  # fmt: skip
        assert "simulated container base of pod default/log-probe: no process ran" in out.stdout
        # A kubelet's line format: an RFC 3339 timestamp, then the text.
        assert out.stdout.split(" ", 1)[0].endswith("Z")
    finally:
        kube.kubectl("-n", "default", "delete", "pod", "log-probe", "--wait=false")


def test_a_pod_labelled_to_fail_fails_with_the_jobs_retries(kube: Kube) -> None:
    """The failure stage (label olist.io/simulate-exit=failed): the Job controller retries
    it backoffLimit times, then marks the Job Failed, as on a cluster."""
    kube.kubectl(
        "apply", "-f", "-", stdin=json.dumps(_job("fail-probe", fail=True, backoff_limit=1))
    )
    try:
        kube.kubectl(
            "-n", "default", "wait", "job/fail-probe", "--for=condition=Failed", "--timeout=120s"
        )  # fmt: skip
        job = kube.json("-n", "default", "get", "job", "fail-probe")
        assert job["status"].get("failed") == 2  # the first try and one retry
        assert not job["status"].get("succeeded")
    finally:
        kube.kubectl("-n", "default", "delete", "job", "fail-probe", "--cascade=foreground",
                     "--wait=false")  # fmt: skip
