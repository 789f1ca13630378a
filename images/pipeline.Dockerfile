# syntax=docker/dockerfile:1
# The pipeline image: Python 3.11 + Java 17 + PySpark + the olist package + the
# PostgreSQL JDBC driver and Spark's Kafka source. It runs every `olist ...` command (consumers, the
# migration Job, KubernetesPodOperator steps) and is also the Spark image of the
# SparkApplications: its entrypoint answers the Spark Operator's `driver` and
# `executor` arguments. Build from the repository root (make deploy does):
#   docker build -f images/pipeline.Dockerfile -t olist/pipeline:<git-sha> .
# Bases and versions are pinned in k8s/versions.env (passed as build args).
ARG PYTHON_BASE_IMAGE=python:3.11.14-slim-bookworm

# ---- JDBC driver: fetched once, verified against Maven Central's checksum ----
FROM ${PYTHON_BASE_IMAGE} AS jdbc
# No default here: the version is pinned in src/olist_pipeline/stack/pom.xml (make deploy
# passes it), the one place it is written.
ARG POSTGRES_JDBC_VERSION
RUN test -n "${POSTGRES_JDBC_VERSION}" \
    || { echo "pass --build-arg POSTGRES_JDBC_VERSION (see src/olist_pipeline/stack/pom.xml)" >&2; exit 1; }
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl \
 && rm -rf /var/lib/apt/lists/*
RUN set -eu; \
    base="https://repo1.maven.org/maven2/org/postgresql/postgresql/${POSTGRES_JDBC_VERSION}"; \
    jar="postgresql-${POSTGRES_JDBC_VERSION}.jar"; \
    curl -fsSL -o "/tmp/${jar}" "${base}/${jar}"; \
    echo "$(curl -fsSL "${base}/${jar}.sha1")  /tmp/${jar}" | sha1sum -c -; \
    mkdir -p /jars && mv "/tmp/${jar}" /jars/postgresql.jar

# ---- Spark's Kafka source (the live sales job), same checks ----
# The jars src/olist_pipeline/stack/spark-kafka.pom.xml resolves beyond pyspark's own
# (tests/charts checks the versions agree with the pom and the Spark pin).
# No default: the version is pyproject's pyspark pin (make deploy passes it).
ARG SPARK_VERSION
ARG SPARK_KAFKA_CLIENTS_VERSION=3.9.2
ARG SPARK_COMMONS_POOL2_VERSION=2.13.1
RUN set -eu; test -n "${SPARK_VERSION}" \
      || { echo "pass --build-arg SPARK_VERSION (pyproject.toml's pyspark pin)" >&2; exit 1; }; \
    mkdir -p /jars/spark-kafka; \
    for coords in \
        "org/apache/spark/spark-sql-kafka-0-10_2.13/${SPARK_VERSION}" \
        "org/apache/spark/spark-token-provider-kafka-0-10_2.13/${SPARK_VERSION}" \
        "org/apache/kafka/kafka-clients/${SPARK_KAFKA_CLIENTS_VERSION}" \
        "org/apache/commons/commons-pool2/${SPARK_COMMONS_POOL2_VERSION}"; do \
      artifact="$(basename "$(dirname "$coords")")"; version="$(basename "$coords")"; \
      jar="${artifact}-${version}.jar"; base="https://repo1.maven.org/maven2/${coords}"; \
      curl -fsSL -o "/jars/spark-kafka/${jar}" "${base}/${jar}"; \
      echo "$(curl -fsSL "${base}/${jar}.sha1")  /jars/spark-kafka/${jar}" | sha1sum -c -; \
    done

# ---- runtime ----
FROM ${PYTHON_BASE_IMAGE}
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    JAVA_HOME=/opt/java \
    SPARK_HOME=/usr/local/lib/python3.11/site-packages/pyspark \
    PYSPARK_PYTHON=/usr/local/bin/python3 \
    PYSPARK_DRIVER_PYTHON=/usr/local/bin/python3 \
    OLIST_JDBC_JAR=/usr/local/lib/python3.11/site-packages/pyspark/jars/postgresql.jar \
    OLIST_STATE_DIR=/tmp/olist \
    OLIST_PROJECT_ROOT=/opt/olist

# Java for Spark, tini as PID 1 (forwards SIGTERM, reaps the JVM's children),
# procps because Spark's scripts call ps.
RUN apt-get update \
 && apt-get install -y --no-install-recommends openjdk-17-jre-headless tini procps \
 && rm -rf /var/lib/apt/lists/* \
 && ln -s /usr/lib/jvm/java-17-openjdk-* /opt/java

# The unprivileged user every pod runs as (charts and SparkApplications use 10001).
RUN groupadd --system --gid 10001 olist \
 && useradd --system --uid 10001 --gid olist --home-dir /opt/olist --shell /usr/sbin/nologin olist

WORKDIR /opt/olist
# Dependencies first (their layer changes only with pyproject.toml and the lock), then
# the source. The runtime dependencies, each at its requirements.lock version.
COPY pyproject.toml README.md requirements.lock ./
RUN python -c 'import tomllib; print("\n".join(tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]))' > /tmp/requirements.txt \
 && pip install -r /tmp/requirements.txt -c requirements.lock \
 && rm /tmp/requirements.txt
COPY --from=jdbc /jars/postgresql.jar ${SPARK_HOME}/jars/postgresql.jar
COPY --from=jdbc /jars/spark-kafka/ ${SPARK_HOME}/jars/
COPY src ./src
RUN pip install --no-deps . && rm -rf ./src build
COPY spark-apps ./spark-apps
COPY stream-consumers ./stream-consumers
COPY images/pipeline-entrypoint.sh /usr/local/bin/olist-entrypoint
RUN chmod 0755 /usr/local/bin/olist-entrypoint \
 && mkdir -p /tmp/olist && chown -R olist:olist /tmp/olist

USER 10001:10001
ENTRYPOINT ["/usr/bin/tini", "--", "/usr/local/bin/olist-entrypoint"]
CMD ["--help"]
