"""What the Kubernetes target's tasks run with: image, namespaces, accounts, Secrets.

One place for every cluster name the DAGs and the SparkApplication templates
(``spark-apps/k8s/<job>.yaml``) use; the chart (``charts/olist-platform``)
creates the namespaces, service accounts, RBAC and Secrets named here, and a
DAG test checks the templates carry the same values.
"""

from __future__ import annotations

from olist_pipeline import __version__
from olist_pipeline.config import Role

# Pinned tag (the package version): never `latest`, which forces a pull that
# fails for images loaded with `kind load` (kubernetes-sigs/kind#328).
IMAGE = f"olist/pipeline:{__version__}"
IMAGE_PULL_POLICY = "IfNotPresent"
SPARK_VERSION = "4.2.0"

# Command pods (ingest, DQ, parity, metrics) and Spark applications run in
# their own namespaces; the operator's namespace default ("default") is never used.
JOBS_NAMESPACE = "olist-jobs"
SPARK_NAMESPACE = "spark-jobs"
JOBS_SERVICE_ACCOUNT = "olist-jobs"
SPARK_SERVICE_ACCOUNT = "olist-spark"
KUBERNETES_CONN_ID = "kubernetes_default"

# Endpoints inside the cluster (CloudNativePG rw service, Strimzi bootstrap,
# Pushgateway of kube-prometheus-stack's namespace).
PG_HOST = "olist-pg-rw.olist-data.svc"
KAFKA_BOOTSTRAP = "olist-kafka-bootstrap.kafka.svc:9092"
PUSHGATEWAY_URL = "http://prometheus-pushgateway.monitoring.svc:9091"

# Source CSV files for ingestion: a read-only volume claim mounted into the pod.
SOURCE_DATA_CLAIM = "olist-source-data"
SOURCE_DATA_PATH = "/data/olist"

# Spark apps baked into the image (mainApplicationFile: local://...).
SPARK_APPS_DIR = "/opt/olist/spark-apps"


def role_secret(role: Role) -> str:
    """Secret holding one database login (keys ``username`` / ``password``, CNPG style)."""
    return f"olist-pg-{role.value}"


def plain_env() -> dict[str, str]:
    """Non-secret environment every pod gets (config.py's variable names)."""
    return {
        "OLIST_ENV": "kind",
        "OLIST_PG_HOST": PG_HOST,
        "OLIST_PG_PORT": "5432",
        "OLIST_PG_DATABASE": "olist",
        "OLIST_KAFKA_BOOTSTRAP": KAFKA_BOOTSTRAP,
        "OLIST_PUSHGATEWAY_URL": PUSHGATEWAY_URL,
        "OLIST_LOG_FORMAT": "json",
    }


def secret_env(roles: tuple[Role, ...]) -> list[tuple[str, str, str]]:
    """(env var, secret name, secret key) for each role's login: least privilege per step."""
    out: list[tuple[str, str, str]] = []
    for role in roles:
        upper = role.value.upper()
        out.append((f"OLIST_PG_{upper}_USER", role_secret(role), "username"))
        out.append((f"OLIST_PG_{upper}_PASSWORD", role_secret(role), "password"))
    return out
