"""The cluster tier: our Kubernetes objects against a real API server.

The session starts ``olist stack up cluster`` (etcd, kube-apiserver with RBAC,
controller-manager, scheduler, kwok with one simulated node) unless it is
already up, and stops what it started at the end. The steps that need only a
cluster are ``k8s/platform.sh``'s own (``apply-namespaces``,
``apply-resources``, ``install-app``, ``uninstall-app``), run here against the
``olist-local`` context, so ``make deploy`` and this tier share one code path.

kwok runs no container: pods are scheduled for real and their status is what
kwok's stages (``src/olist_pipeline/stack/kwok-stages.yaml``) write. Nothing
here proves what a container does, nor NetworkPolicy enforcement (no CNI).
The Spark Operator is simulated by a second kwok (``kwok-sparkapps.yaml``,
fixture ``spark_operator_simulation``); ``test_dag_run.py`` says what of the
DAG run on this cluster is real and what is simulated.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from olist_pipeline.config import Settings, load_settings
from tests.k8s_validate import REPO_ROOT, crd_schema_dir

CONTEXT = "olist-local"
# Our chart's release, as the tier installs it (k8s/platform.sh's names).
RELEASE = "olist"
RELEASE_NS = "olist"


@dataclass(frozen=True)
class Kube:
    """kubectl, helm and k8s/platform.sh pointed at the local cluster."""

    kubeconfig: Path
    kubectl_bin: Path
    helm_bin: str

    @property
    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "KUBECONFIG": str(self.kubeconfig),
            "KUBECTL": str(self.kubectl_bin),
            "OLIST_KUBE_CONTEXT": CONTEXT,
            "HELM": self.helm_bin,
        }

    def run(
        self,
        argv: list[str],
        *,
        stdin: str | None = None,
        timeout: float = 300,
        env: dict[str, str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            argv,
            input=stdin,
            capture_output=True,
            text=True,
            check=False,
            timeout=timeout,
            cwd=REPO_ROOT,
            env=self.env | (env or {}),
        )

    def kubectl(
        self, *args: str, stdin: str | None = None, check: bool = True, timeout: float = 300
    ) -> subprocess.CompletedProcess[str]:
        out = self.run(
            [str(self.kubectl_bin), "--context", CONTEXT, *args], stdin=stdin, timeout=timeout
        )
        if check and out.returncode != 0:
            pytest.fail(f"kubectl {' '.join(args)} failed:\n{out.stderr.strip()}", pytrace=False)
        return out

    def json(self, *args: str) -> Any:
        return json.loads(self.kubectl(*args, "-o", "json").stdout)

    def poll(self, what: str, predicate: Callable[[], bool], timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                pytest.fail(f"{what}: not within {timeout:.0f}s", pytrace=False)
            time.sleep(0.5)

    def helm(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        out = self.run([self.helm_bin, "--kube-context", CONTEXT, *args], timeout=600)
        if check and out.returncode != 0:
            pytest.fail(f"helm {' '.join(args)} failed:\n{out.stderr.strip()}", pytrace=False)
        return out

    def platform(
        self, *args: str, check: bool = True, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        out = self.run(["bash", "k8s/platform.sh", *args], timeout=900, env=env)
        if check and out.returncode != 0:
            pytest.fail(
                f"k8s/platform.sh {' '.join(args)} failed (exit {out.returncode}):\n"
                f"{out.stdout.strip()[-2000:]}\n{out.stderr.strip()[-2000:]}",
                pytrace=False,
            )
        return out

    def can_i(
        self, verb: str, resource: str, namespace: str, *, as_user: str, name: str = ""
    ) -> bool:
        """The API server's own authorization decision (a SubjectAccessReview).
        ``resource`` is ``plural[.group][/subresource]``; ``name`` one object of it."""
        attributes = _attributes(verb, resource, namespace)
        if name:
            attributes["name"] = name
        review: dict[str, Any] = {
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SubjectAccessReview",
            "spec": {"user": as_user, "resourceAttributes": attributes},
        }
        if as_user.startswith("system:serviceaccount:"):
            sa_ns = as_user.split(":")[2]
            review["spec"]["groups"] = [
                "system:serviceaccounts",
                f"system:serviceaccounts:{sa_ns}",
                "system:authenticated",
            ]
        out = self.kubectl("create", "-o", "json", "-f", "-", stdin=json.dumps(review))
        return bool(json.loads(out.stdout)["status"].get("allowed", False))


def _attributes(verb: str, resource: str, namespace: str) -> dict[str, str]:
    group = ""
    subresource = ""
    if "/" in resource:
        resource, subresource = resource.split("/", 1)
    if "." in resource:
        resource, group = resource.split(".", 1)
    attrs = {"verb": verb, "resource": resource, "group": group, "namespace": namespace}
    if subresource:
        attrs["subresource"] = subresource
    return attrs


@pytest.fixture(scope="session")
def cluster_settings() -> Settings:
    return load_settings()


@pytest.fixture(scope="session")
def kube(cluster_settings: Settings) -> Iterator[Kube]:
    """The local control plane: reused if up, else started now and stopped at the end."""
    from olist_pipeline.stack import cluster
    from olist_pipeline.stack.prereqs import PrerequisiteError
    from olist_pipeline.stack.stack import GROUPS, LocalStack
    from tests.charts.conftest import helm_binary

    try:
        cluster.require_binaries(cluster_settings)
    except PrerequisiteError as exc:
        pytest.fail(str(exc), pytrace=False)
    stack = LocalStack(cluster_settings, GROUPS["cluster"])
    to_start = [s.name for s in stack.status() if not s.healthy]
    if to_start:
        LocalStack(cluster_settings, ["cluster"]).up()
    try:
        yield Kube(
            kubeconfig=cluster.kubeconfig_path(cluster_settings),
            kubectl_bin=cluster.binary(cluster_settings, "kubectl"),
            helm_bin=helm_binary(),
        )
    finally:
        if to_start and not os.environ.get("OLIST_KEEP_STACK"):
            LocalStack(cluster_settings, ["cluster"]).down()


@pytest.fixture(scope="session")
def crds(kube: Kube) -> list[str]:
    """The operators' CRDs (Strimzi, CloudNativePG, Spark Operator, Prometheus Operator),
    installed server-side: three exceed client-side apply's annotation limit."""
    schemas = crd_schema_dir()
    if not schemas.is_dir():
        pytest.fail(
            f"the CRD folder {schemas} is missing: the cluster tier installs the operators' CRDs "
            "from it (see its README for the upstream tags); restore it or set OLIST_K8S_SCHEMAS.",
            pytrace=False,
        )
    files = sorted(schemas.glob("*.yaml"))
    if not files:
        pytest.fail(f"no CRD files (*.yaml) in {schemas}", pytrace=False)
    args = ["apply", "--server-side", "--field-manager=olist-tests"]
    for f in files:
        args += ["-f", str(f)]
    kube.kubectl(*args)
    names = _crd_names(files)
    kube.kubectl(
        "wait", "--for=condition=Established", "--timeout=60s", *[f"crd/{n}" for n in names]
    )
    return names


def _crd_names(files: list[Path]) -> list[str]:
    import yaml

    names = []
    for f in files:
        for doc in yaml.safe_load_all(f.read_text("utf-8")):
            if doc and doc.get("kind") == "CustomResourceDefinition":
                names.append(doc["metadata"]["name"])
    return names


@pytest.fixture(scope="session")
def spark_operator_simulation(
    kube: Kube, crds: list[str], cluster_settings: Settings
) -> Iterator[None]:
    """The second kwok that plays the Spark Operator (``kwok-sparkapps.yaml``): it can
    start only now, with the CRDs installed. Stopped at the end if started here."""
    from olist_pipeline.stack import cluster
    from olist_pipeline.stack.stack import StackError

    service = cluster.SparkApplicationsService(cluster_settings)
    started = not service.running()
    try:
        cluster.start_spark_applications(cluster_settings)
    except StackError as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        yield
    finally:
        if started and not os.environ.get("OLIST_KEEP_STACK"):
            service.stop()


@pytest.fixture(scope="session")
def namespaces(kube: Kube, crds: list[str]) -> Kube:
    kube.platform("apply-namespaces")
    return kube


# ---- our chart's release: what the release tests and the DAG run stand on ----------


def _claims() -> list[dict[str, Any]]:
    """The PersistentVolumeClaims our chart renders with the values the tier installs."""
    from tests.charts.conftest import CI_VALUES, render

    return [d for d in render(CI_VALUES) if d.get("kind") == "PersistentVolumeClaim"]


def _pv_name(claim: dict[str, Any]) -> str:
    return f"{claim['metadata']['name']}-tier"


def _volumes_for_claims(kube: Kube) -> None:
    # No provisioner here: each claim of the chart (source data, the live job's
    # checkpoint, ...) binds to a volume made for it, or `--wait` never ends.
    for claim in _claims():
        meta = claim["metadata"]
        pv = {
            "apiVersion": "v1",
            "kind": "PersistentVolume",
            "metadata": {"name": _pv_name(claim)},
            "spec": {
                "capacity": {"storage": claim["spec"]["resources"]["requests"]["storage"]},
                "accessModes": claim["spec"]["accessModes"],
                "persistentVolumeReclaimPolicy": "Retain",
                "hostPath": {"path": f"/tmp/{meta['name']}"},
                "claimRef": {"namespace": meta.get("namespace", RELEASE_NS), "name": meta["name"]},
            },
        }
        kube.kubectl("apply", "--server-side", "--field-manager=olist-tests", "-f", "-",
                     stdin=json.dumps(pv))  # fmt: skip


def _drop_claims_and_volumes(kube: Kube, *, wait: bool) -> None:
    waiting = ("--timeout=60s",) if wait else ("--wait=false",)
    for claim in _claims():
        meta = claim["metadata"]
        kube.kubectl("-n", meta.get("namespace", RELEASE_NS), "delete", "pvc", meta["name"],
                     "--ignore-not-found", *waiting, check=False)  # fmt: skip
        kube.kubectl("delete", "pv", _pv_name(claim), "--ignore-not-found", *waiting,
                     check=False)  # fmt: skip


def install_release(kube: Kube, tag: str) -> None:
    """``helm install --wait --wait-for-jobs`` of our chart with its ci values, from scratch."""
    from tests.charts.conftest import CHART, CI_VALUES

    kube.helm("uninstall", RELEASE, "-n", RELEASE_NS, "--wait", check=False)
    # A claim or volume left by an earlier session (etcd's data outlives `down`) would
    # keep the new claim from binding: both go first, then fresh volumes are made.
    _drop_claims_and_volumes(kube, wait=True)
    _volumes_for_claims(kube)
    kube.helm(
        "install", RELEASE, str(CHART), "-n", RELEASE_NS, "-f", str(CI_VALUES),
        "--set-string", f"image.tag={tag}",
        "--wait", "--wait-for-jobs", "--timeout", "5m",
    )  # fmt: skip


def uninstall_release(kube: Kube) -> None:
    kube.helm("uninstall", RELEASE, "-n", RELEASE_NS, "--wait", check=False)
    _drop_claims_and_volumes(kube, wait=False)
