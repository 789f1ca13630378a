# syntax=docker/dockerfile:1
# The Airflow image: the official base with our package (for the DAG builder) and
# the DAGs baked in (the chart runs it with KubernetesExecutor; DAGs change with
# the code they call, so they ship in the image). PySpark is left out: Spark runs
# in the pipeline image, launched as SparkApplications.
#   docker build -f images/airflow.Dockerfile -t olist/airflow:<git-sha> .
ARG AIRFLOW_BASE_IMAGE=apache/airflow:3.3.2-python3.11
FROM ${AIRFLOW_BASE_IMAGE}
ARG AIRFLOW_VERSION=3.3.2

ENV OLIST_PROJECT_ROOT=/opt/olist \
    OLIST_SPARK_TEMPLATES_DIR=/opt/olist/spark-apps/k8s \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# pip builds our package in place: its folder must belong to the image's user.
USER root
RUN mkdir -p /opt/olist && chown airflow:root /opt/olist
USER airflow

# Dependencies first: the providers and the light part of our dependencies, each at its
# requirements.lock version, with apache-airflow held at the base image's version (the
# lock has the same one: pip stops on a mismatch rather than mixing two).
COPY --chown=airflow:root pyproject.toml requirements.lock /opt/olist/
RUN python - <<'PY' > /tmp/requirements.txt
import tomllib
project = tomllib.load(open("/opt/olist/pyproject.toml", "rb"))["project"]
skip = ("pyspark", "pandas", "matplotlib")
deps = [d for d in project["dependencies"] if not d.startswith(skip)]
print("\n".join(deps + project["optional-dependencies"]["airflow"]))
PY
RUN pip install --no-cache-dir "apache-airflow==${AIRFLOW_VERSION}" -r /tmp/requirements.txt \
    -c /opt/olist/requirements.lock

COPY --chown=airflow:root src /opt/olist/src
COPY --chown=airflow:root README.md /opt/olist/README.md
RUN pip install --no-cache-dir --no-deps /opt/olist
COPY --chown=airflow:root spark-apps /opt/olist/spark-apps
COPY --chown=airflow:root airflow/dags /opt/airflow/dags
