"""What the Kubernetes target's tasks run with: image, namespaces, accounts, config, Secrets.

One place for every cluster name the DAGs and the SparkApplication templates
(``spark-apps/k8s/<job>.yaml``) use. They match ``charts/olist-platform``
installed as release ``olist``: it creates the job namespaces' launcher RBAC,
the ``olist-jobs`` service account, the ``olist-env`` ConfigMap (OLIST_ENV=kind,
database host, Kafka bootstrap, Pushgateway) and one login Secret per
database role (``olist-db-<role>``, keys ``OLIST_PG_<ROLE>_USER`` /
``_PASSWORD``) in every job namespace. A DAG test checks the templates carry
the same values.
"""

from __future__ import annotations

from olist_pipeline import __version__
from olist_pipeline.config import Role

# Pinned tag (the package version): never `latest`, which forces a pull that
# fails for images loaded with `kind load` (kubernetes-sigs/kind#328).
IMAGE = f"olist/pipeline:{__version__}"
IMAGE_PULL_POLICY = "IfNotPresent"
SPARK_VERSION = "4.2.0"

# Command pods (ingest, DQ, parity, metrics) and Spark applications run in the
# chart's job namespaces; the operators' namespace default ("default") is never used.
JOBS_NAMESPACE = "olist-jobs"
SPARK_NAMESPACE = "spark-jobs"
# Job pods need no API access (the chart's account has none and no token);
# Spark drivers create their executors, so they run as the Spark Operator
# chart's job account (spark.serviceAccount, default <release>-spark).
JOBS_SERVICE_ACCOUNT = "olist-jobs"
SPARK_SERVICE_ACCOUNT = "spark-operator-spark"
KUBERNETES_CONN_ID = "kubernetes_default"

ENV_CONFIGMAP = "olist-env"
RELEASE = "olist"

# Source CSV files for ingestion: a read-only volume claim mounted into the pod.
SOURCE_DATA_CLAIM = "olist-source-data"
SOURCE_DATA_PATH = "/data/olist"

# Spark apps baked into the image (mainApplicationFile: local://...).
SPARK_APPS_DIR = "/opt/olist/spark-apps"

# Same as the chart's podSecurityContext (the image's unprivileged user).
RUN_AS_USER = 10001


def role_secret(role: Role) -> str:
    """The chart's login Secret of one database role."""
    return f"{RELEASE}-db-{role.value}"
