"""Spark's own Kubernetes client submits a layer's driver pod to the local API server.

``spark-submit --master k8s://... --deploy-mode cluster`` (the spark-submit bundled
with our pyspark, Spark 4.2.0) is what the Spark Operator runs for a SparkApplication.
Here it is run directly, as the admin, with the driver on the Spark job account: the
API server admits the driver pod Spark builds, the scheduler places it on the simulated
node and kwok completes it. No Spark code runs (kwok runs no container).
"""

from __future__ import annotations

import json
import sys
import uuid
from pathlib import Path
from typing import Any

from olist_pipeline.airflow import k8s
from olist_pipeline.stack.cluster import NODE_NAME
from tests.cluster.conftest import Kube


def _spark_home() -> Path:
    import pyspark

    return Path(pyspark.__file__).parent


def test_spark_submit_creates_the_staging_driver_pod(namespaces: Kube) -> None:
    kube = namespaces
    # The Spark Operator chart creates the job account; it is not installed here.
    meta = {"name": k8s.SPARK_SERVICE_ACCOUNT, "namespace": k8s.SPARK_NAMESPACE}
    sa = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta}
    kube.kubectl("apply", "--server-side", "--field-manager=olist-tests", "-f", "-",
                 stdin=json.dumps(sa))  # fmt: skip
    pki = kube.kubeconfig.parent / "pki"
    server = kube.json("config", "view", "--minify", "--raw")["clusters"][0]["cluster"]["server"]
    name = f"olist-staging-{uuid.uuid4().hex[:6]}"
    home = _spark_home()
    driver_account = "spark.kubernetes.authenticate.driver.serviceAccountName"
    argv = [
        str(home / "bin" / "spark-submit"), "--master", f"k8s://{server}",
        "--deploy-mode", "cluster", "--name", name,
        "--conf", f"spark.kubernetes.namespace={k8s.SPARK_NAMESPACE}",
        "--conf", f"spark.kubernetes.driver.pod.name={name}-driver",
        "--conf", f"{driver_account}={k8s.SPARK_SERVICE_ACCOUNT}",
        "--conf", f"spark.kubernetes.container.image={k8s.IMAGE}",
        "--conf", "spark.kubernetes.submission.waitAppCompletion=false",
        "--conf", f"spark.kubernetes.authenticate.submission.caCertFile={pki / 'ca.crt'}",
        "--conf", f"spark.kubernetes.authenticate.submission.clientCertFile={pki / 'admin.crt'}",
        "--conf", f"spark.kubernetes.authenticate.submission.clientKeyFile={pki / 'admin.key'}",
        f"local://{k8s.SPARK_APPS_DIR}/staging.py", "--run-id", "cluster-tier",
    ]  # fmt: skip
    env = {"SPARK_HOME": str(home), "PYSPARK_PYTHON": sys.executable}
    out = kube.run(argv, env=env, timeout=300)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    ns = k8s.SPARK_NAMESPACE
    try:
        kube.kubectl("-n", ns, "wait", f"pod/{name}-driver", "--timeout=120s",
                     "--for=jsonpath={.status.phase}=Succeeded")  # fmt: skip
        pod: dict[str, Any] = kube.json("-n", ns, "get", "pod", f"{name}-driver")
        assert pod["spec"]["serviceAccountName"] == k8s.SPARK_SERVICE_ACCOUNT
        assert pod["spec"]["nodeName"] == NODE_NAME
        (driver,) = pod["spec"]["containers"]
        assert driver["name"] == "spark-kubernetes-driver"
        assert driver["image"] == k8s.IMAGE
        assert f"local://{k8s.SPARK_APPS_DIR}/staging.py" in driver["args"]
        assert pod["metadata"]["labels"]["spark-role"] == "driver"
    finally:
        kube.kubectl("-n", ns, "delete", "pod", f"{name}-driver", "--ignore-not-found",
                     "--wait=false", check=False)  # fmt: skip
