"""Typed settings, read from the environment when asked for, never at import.

One switch, ``OLIST_ENV``, selects the target: ``local`` (default; real
services on 127.0.0.1 started by ``olist stack up``) or ``kind`` (the same
commands in pods; every endpoint and secret must come from the environment,
so nothing falls back to a local default there).

Every ``OLIST_*`` variable is read here and nowhere else: ``load_settings`` for
commands, and the few ``dag_*`` functions below for what Airflow needs while it
parses a DAG file (no I/O, no secrets). ``Settings.to_env`` is the inverse of
``load_settings``: the variables that make a child process see the same settings.
"""

from __future__ import annotations

import enum
import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

from olist_pipeline.errors import UsageError


class ConfigError(UsageError):
    """A setting is missing or malformed; the message names the variable."""


class Target(enum.StrEnum):
    LOCAL = "local"
    KIND = "kind"


class Role(enum.StrEnum):
    """Database roles; each component connects as its own (least privilege)."""

    ADMIN = "admin"  # migrations only
    LOADER = "loader"  # raw + audit batches and quarantine
    TRANSFORMER = "transformer"  # staging, warehouse, marts (reads raw), transform_stats
    QUALITY = "quality"  # DQ gates + parity: reads every layer, writes their results
    STREAM = "stream"  # stream staging tables + stored offsets
    READER = "reader"  # read-only warehouse + marts + audit


@dataclass(frozen=True)
class Credentials:
    user: str
    password: str


@dataclass(frozen=True)
class PostgresSettings:
    host: str
    port: int
    database: str
    # None where the environment does not hold that role's login: a pod gets
    # only its own component's Secret, so a missing one fails when used.
    credentials: Mapping[Role, Credentials | None]

    def creds(self, role: Role) -> Credentials:
        found = self.credentials.get(role)
        if found is None:
            upper = role.value.upper()
            raise ConfigError(
                f"OLIST_PG_{upper}_USER / OLIST_PG_{upper}_PASSWORD are not set; the "
                f"{role.value} component needs them (on the cluster they come from a Secret)."
            )
        return found

    def dsn(self, role: Role = Role.ADMIN, database: str | None = None) -> str:
        """A libpq URL for ``role`` (``postgresql://user:pass@host:port/db``)."""
        c = self.creds(role)
        db = database or self.database
        return (
            f"postgresql://{quote(c.user, safe='')}:{quote(c.password, safe='')}"
            f"@{self.host}:{self.port}/{quote(db, safe='')}"
        )

    def jdbc_url(self, database: str | None = None) -> str:
        return f"jdbc:postgresql://{self.host}:{self.port}/{database or self.database}"


@dataclass(frozen=True)
class KafkaSettings:
    bootstrap_servers: str
    # Prefix for every topic and consumer group name; tests set a unique one so
    # they share one broker without seeing each other's data.
    namespace: str = ""
    # librdkafka debug contexts for every client (e.g. "cgrp,consumer"): its own log lines at
    # debug level, to see why a consumer group does what it does. Empty: errors only.
    client_debug: str = ""

    def topic(self, name: str) -> str:
        return f"{self.namespace}{name}"

    def group(self, name: str) -> str:
        return f"{self.namespace}{name}"


@dataclass(frozen=True)
class LocalStackSettings:
    state_dir: Path
    pg_port: int
    kafka_port: int
    kafka_controller_port: int
    prometheus_port: int
    pushgateway_port: int
    pg_exporter_port: int = 19187
    # initdb refuses root: as root the server runs as this unprivileged OS account.
    pg_os_user: str = "postgres"
    # A PostgreSQL server install to prefer over the newest one found.
    pg_bindir: Path | None = None
    kafka_heap: str = "1g"
    # The checkout's monitoring/ folder (rules, dashboards, Prometheus template).
    monitoring_dir: Path = Path("monitoring")

    @property
    def logs_dir(self) -> Path:
        return self.state_dir / "logs"

    @property
    def jars_dir(self) -> Path:
        return self.state_dir / "jars"

    @property
    def stack_jars_dir(self) -> Path:
        """The folder ``olist stack fetch`` resolves the broker and JDBC jars into."""
        return self.jars_dir / "lib"


@dataclass(frozen=True)
class ClusterSettings:
    """Ports of the local control plane (``olist stack up cluster``), all on 127.0.0.1."""

    api_port: int
    etcd_port: int
    etcd_peer_port: int
    controller_manager_port: int
    scheduler_port: int
    # The simulated node's kubelet endpoint (pod logs through the API server).
    kubelet_port: int = 18250


@dataclass(frozen=True)
class SparkSettings:
    master: str
    driver_memory: str
    shuffle_partitions: int
    jdbc_jar: Path | None
    jdbc_fetch_size: int = 10_000
    jdbc_batch_size: int = 10_000
    concurrent_jobs: int = 3  # tables built and written at once per layer
    # Local target: the Spark Connect server the local stack runs (one warm JVM
    # shared by every layer and run); None builds an in-process session instead.
    remote: str | None = None
    connect_port: int = 18015


@dataclass(frozen=True)
class Settings:
    target: Target
    postgres: PostgresSettings
    kafka: KafkaSettings
    spark: SparkSettings
    local: LocalStackSettings
    cluster: ClusterSettings
    data_dir: Path | None
    log_level: str
    log_format: str  # "json" or "console"
    log_file: Path | None
    metrics_port: int
    pushgateway_url: str | None
    run_id: str | None = None
    # Where daily increments land, one folder per day (<landing>/YYYY-MM-DD/).
    landing_dir: Path = Path(".local/landing")
    # The local Airflow UI's login (`olist airflow ui`, loopback only).
    airflow_user: str = "admin"
    airflow_password: str = "admin"  # noqa: S105 - development login on 127.0.0.1 only

    def to_env(self) -> dict[str, str]:
        """The OLIST_* variables that ``load_settings`` reads back into these settings.

        A value that is not set (None) is left out, so a child process given
        ``{**os.environ, **settings.to_env()}`` keeps what its parent's environment says.
        """
        env: dict[str, str | None] = {
            "OLIST_ENV": self.target.value,
            "OLIST_PG_HOST": self.postgres.host,
            "OLIST_PG_PORT": str(self.postgres.port),
            "OLIST_PG_DATABASE": self.postgres.database,
            "OLIST_KAFKA_BOOTSTRAP": self.kafka.bootstrap_servers,
            "OLIST_KAFKA_NAMESPACE": self.kafka.namespace,
            "OLIST_KAFKA_DEBUG": self.kafka.client_debug or None,
            "OLIST_SPARK_MASTER": self.spark.master,
            "OLIST_SPARK_DRIVER_MEMORY": self.spark.driver_memory,
            "OLIST_SPARK_SHUFFLE_PARTITIONS": str(self.spark.shuffle_partitions),
            "OLIST_SPARK_CONCURRENT_JOBS": str(self.spark.concurrent_jobs),
            "OLIST_SPARK_CONNECT": "true" if self.spark.remote else "false",
            "OLIST_SPARK_CONNECT_PORT": str(self.spark.connect_port),
            "OLIST_JDBC_JAR": _text(self.spark.jdbc_jar),
            "OLIST_STATE_DIR": str(self.local.state_dir),
            "OLIST_KAFKA_PORT": str(self.local.kafka_port),
            "OLIST_KAFKA_CONTROLLER_PORT": str(self.local.kafka_controller_port),
            "OLIST_PROMETHEUS_PORT": str(self.local.prometheus_port),
            "OLIST_PUSHGATEWAY_PORT": str(self.local.pushgateway_port),
            "OLIST_PG_EXPORTER_PORT": str(self.local.pg_exporter_port),
            "OLIST_PG_OS_USER": self.local.pg_os_user,
            "OLIST_PG_BINDIR": _text(self.local.pg_bindir),
            "OLIST_KAFKA_HEAP": self.local.kafka_heap,
            "OLIST_MONITORING_DIR": str(self.local.monitoring_dir),
            "OLIST_CLUSTER_API_PORT": str(self.cluster.api_port),
            "OLIST_CLUSTER_ETCD_PORT": str(self.cluster.etcd_port),
            "OLIST_CLUSTER_ETCD_PEER_PORT": str(self.cluster.etcd_peer_port),
            "OLIST_CLUSTER_CONTROLLER_MANAGER_PORT": str(self.cluster.controller_manager_port),
            "OLIST_CLUSTER_SCHEDULER_PORT": str(self.cluster.scheduler_port),
            "OLIST_CLUSTER_KUBELET_PORT": str(self.cluster.kubelet_port),
            "OLIST_DATA_DIR": _text(self.data_dir),
            "OLIST_LOG_LEVEL": self.log_level,
            "OLIST_LOG_FORMAT": self.log_format,
            "OLIST_LOG_FILE": _text(self.log_file),
            "OLIST_METRICS_PORT": str(self.metrics_port),
            "OLIST_PUSHGATEWAY_URL": self.pushgateway_url,
            "OLIST_RUN_ID": self.run_id,
            "OLIST_LANDING_DIR": str(self.landing_dir),
            "OLIST_AIRFLOW_USER": self.airflow_user,
            "OLIST_AIRFLOW_PASSWORD": self.airflow_password,
        }
        for role in Role:
            creds = self.postgres.credentials.get(role)
            if creds is not None:
                env[f"OLIST_PG_{role.value.upper()}_USER"] = creds.user
                env[f"OLIST_PG_{role.value.upper()}_PASSWORD"] = creds.password
        return {k: v for k, v in env.items() if v is not None}

    def jdbc_jar(self) -> Path:
        """The PostgreSQL JDBC driver jar Spark loads: ``OLIST_JDBC_JAR`` when set (the
        images bake it in), else the pinned one in the local stack's jars folder.

        Found here, fetched by the local stack (``olist_pipeline.stack.jars``), so a
        module that only needs the path (a DAG's macro) does not depend on stack/.
        """
        if self.spark.jdbc_jar is not None:
            if not self.spark.jdbc_jar.is_file():
                raise ConfigError(f"OLIST_JDBC_JAR={self.spark.jdbc_jar} does not exist")
            return self.spark.jdbc_jar
        found = sorted(self.local.stack_jars_dir.glob("postgresql-*.jar"))
        if not found:
            raise ConfigError(
                f"the PostgreSQL JDBC jar is not in {self.local.stack_jars_dir}; fetch the "
                "pinned jars with `make jars` (or `olist stack fetch`), or set OLIST_JDBC_JAR"
            )
        return found[-1]

    def with_database(self, database: str) -> Settings:
        return replace(self, postgres=replace(self.postgres, database=database))

    def with_kafka_namespace(self, namespace: str) -> Settings:
        return replace(self, kafka=replace(self.kafka, namespace=namespace))


def _text(path: Path | None) -> str | None:
    return None if path is None else str(path)


# On the cluster the increments sit on the source-data volume (airflow/k8s.py).
KIND_LANDING_DIR = "/data/olist/increments"


def landing_dir(env: Mapping[str, str], target: Target, state_dir: Path) -> Path:
    """OLIST_LANDING_DIR, else <state dir>/landing (local) or the source volume's folder."""
    configured = env.get("OLIST_LANDING_DIR")
    if configured:
        return Path(configured)
    return Path(KIND_LANDING_DIR) if target is Target.KIND else state_dir / "landing"


def find_project_root(start: Path | None = None) -> Path:
    """The checkout this command runs in (nearest parent with our pyproject)."""
    here = (start or Path.cwd()).resolve()
    for candidate in (here, *here.parents):
        pyproject = candidate / "pyproject.toml"
        if pyproject.is_file() and 'name = "olist-pipeline"' in pyproject.read_text("utf-8"):
            return candidate
    return here


class _Env:
    """Reads typed values from a mapping and names the variable when one is bad."""

    def __init__(self, env: Mapping[str, str], target: Target) -> None:
        self._env = env
        self._target = target

    def text(self, name: str, local_default: str | None) -> str:
        value = self._env.get(name)
        if value not in (None, ""):
            return value
        if self._target is Target.LOCAL and local_default is not None:
            return local_default
        raise ConfigError(
            f"{name} is not set; it is required when OLIST_ENV={self._target.value}. "
            f"Set it in the environment (on the cluster it comes from a Secret or the chart)."
        )

    def opt(self, name: str) -> str | None:
        value = self._env.get(name)
        return value if value else None

    def integer(self, name: str, default: int) -> int:
        raw = self._env.get(name)
        if raw in (None, ""):
            return default
        try:
            return int(raw)
        except ValueError:
            raise ConfigError(f"{name}={raw!r} is not an integer") from None

    def port(self, name: str) -> int:
        return self.integer(name, PORT_DEFAULTS[name])

    def boolean(self, name: str, default: bool) -> bool:
        raw = (self._env.get(name) or "").strip().lower()
        if not raw:
            return default
        if raw in ("1", "true", "yes", "on"):
            return True
        if raw in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f"{name}={raw!r} is not a boolean; use true or false")


def target_of(env: Mapping[str, str]) -> Target:
    """OLIST_ENV as a target (default ``local``)."""
    raw_target = env.get("OLIST_ENV", "local").strip().lower() or "local"
    try:
        return Target(raw_target)
    except ValueError:
        raise ConfigError(
            f"OLIST_ENV={raw_target!r} is not a known target; use 'local' or 'kind'"
        ) from None


# ---- what Airflow reads while it parses a DAG file: path arithmetic, no I/O ----------


def dag_project_root(env: Mapping[str, str]) -> Path:
    """The checkout (or image folder) holding spark-apps/ and airflow/ (OLIST_PROJECT_ROOT wins)."""
    configured = env.get("OLIST_PROJECT_ROOT")
    return Path(configured) if configured else Path(__file__).parents[2]


def dag_spark_templates_dir(env: Mapping[str, str]) -> Path:
    """The SparkApplication templates the kind DAGs render (OLIST_SPARK_TEMPLATES_DIR wins)."""
    configured = env.get("OLIST_SPARK_TEMPLATES_DIR")
    return Path(configured) if configured else dag_project_root(env) / "spark-apps" / "k8s"


def spark_connect_enabled(env: Mapping[str, str], target: Target) -> bool:
    """OLIST_SPARK_CONNECT: whether local Spark work runs in the stack's Connect server."""
    return target is Target.LOCAL and _Env(env, target).boolean("OLIST_SPARK_CONNECT", True)


def dag_landing_dir(env: Mapping[str, str], target: Target) -> Path:
    """The landing folder of daily increments, as ``load_settings`` resolves it."""
    state_dir = Path(env.get("OLIST_STATE_DIR") or dag_project_root(env) / ".local")
    return landing_dir(env, target, state_dir)


def dag_batch_start(env: Mapping[str, str]) -> datetime | None:
    """OLIST_BATCH_START_DATE: the first day a catching-up DAG runs for (None: unset)."""
    configured = env.get("OLIST_BATCH_START_DATE", "").strip()
    if not configured:
        return None
    try:
        day = datetime.fromisoformat(configured)
    except ValueError:
        raise ConfigError(
            f"OLIST_BATCH_START_DATE={configured!r} is not a date; use YYYY-MM-DD"
        ) from None
    return day.replace(tzinfo=day.tzinfo or UTC)


def dag_retry_delay(env: Mapping[str, str]) -> timedelta | None:
    """OLIST_AIRFLOW_RETRY_DELAY_SECONDS: every task's first retry delay (None: unset).

    Unset, each task keeps its definition's delay (30 s, doubling per try). The
    retry count and the backoff are never changed: a short delay only lets a test
    (the cluster tier's failing run) see all the retries of a task in seconds.
    """
    raw = env.get("OLIST_AIRFLOW_RETRY_DELAY_SECONDS", "").strip()
    if not raw:
        return None
    try:
        seconds = float(raw)
    except ValueError:
        seconds = -1.0
    if not seconds > 0:
        raise ConfigError(
            f"OLIST_AIRFLOW_RETRY_DELAY_SECONDS={raw!r} is not a positive number of seconds; "
            "unset it to keep the pipeline definition's retry delays"
        )
    return timedelta(seconds=seconds)


def pushgateway_url(env: Mapping[str, str]) -> str | None:
    """OLIST_PUSHGATEWAY_URL alone, for Airflow callbacks that run without settings."""
    return env.get("OLIST_PUSHGATEWAY_URL") or None


# Every local service's port, by the variable that moves it. One table so that
# `olist stack ports --free` can shift them all together.
PORT_DEFAULTS: dict[str, int] = {
    "OLIST_PG_PORT": 15432,
    "OLIST_KAFKA_PORT": 19092,
    "OLIST_KAFKA_CONTROLLER_PORT": 19093,
    "OLIST_SPARK_CONNECT_PORT": 18015,
    "OLIST_PROMETHEUS_PORT": 19090,
    "OLIST_PUSHGATEWAY_PORT": 19091,
    "OLIST_PG_EXPORTER_PORT": 19187,
    "OLIST_CLUSTER_API_PORT": 18443,
    "OLIST_CLUSTER_ETCD_PORT": 18379,
    "OLIST_CLUSTER_ETCD_PEER_PORT": 18380,
    "OLIST_CLUSTER_CONTROLLER_MANAGER_PORT": 18257,
    "OLIST_CLUSTER_SCHEDULER_PORT": 18259,
    "OLIST_CLUSTER_KUBELET_PORT": 18250,
}


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Build settings from ``env`` (default: ``os.environ``) at call time."""
    env = os.environ if env is None else env
    target = target_of(env)
    e = _Env(env, target)

    root = find_project_root()
    # Local services' data, logs and jars; unused by pods on the cluster.
    state_dir = Path(env.get("OLIST_STATE_DIR") or root / ".local").resolve()
    pg_port = e.port("OLIST_PG_PORT")
    kafka_port = e.port("OLIST_KAFKA_PORT")

    pg_host = e.text("OLIST_PG_HOST", "127.0.0.1")
    creds: dict[Role, Credentials | None] = {}
    for role in Role:
        upper = role.value.upper()
        user, password = env.get(f"OLIST_PG_{upper}_USER"), env.get(f"OLIST_PG_{upper}_PASSWORD")
        if target is Target.LOCAL:
            # Local-only development logins; the kind target has no defaults.
            user = user or ("postgres" if role is Role.ADMIN else f"olist_{role.value}")
            password = password or f"olist-local-{role.value}"
        creds[role] = Credentials(user, password) if user and password else None

    jdbc_jar = e.opt("OLIST_JDBC_JAR")
    connect_port = e.port("OLIST_SPARK_CONNECT_PORT")
    # Only the local target has the stack's Connect server; a SparkApplication's
    # driver is its own session.
    use_connect = spark_connect_enabled(env, target)
    data_dir = e.opt("OLIST_DATA_DIR")
    log_file = e.opt("OLIST_LOG_FILE")
    return Settings(
        target=target,
        postgres=PostgresSettings(
            host=pg_host,
            port=pg_port,
            database=env.get("OLIST_PG_DATABASE") or "olist",
            credentials=creds,
        ),
        kafka=KafkaSettings(
            bootstrap_servers=e.text("OLIST_KAFKA_BOOTSTRAP", f"127.0.0.1:{kafka_port}"),
            namespace=env.get("OLIST_KAFKA_NAMESPACE", ""),
            client_debug=env.get("OLIST_KAFKA_DEBUG", "").strip(),
        ),
        spark=SparkSettings(
            master=env.get("OLIST_SPARK_MASTER") or "local[2]",
            driver_memory=env.get("OLIST_SPARK_DRIVER_MEMORY") or "4g",
            shuffle_partitions=e.integer("OLIST_SPARK_SHUFFLE_PARTITIONS", 4),
            concurrent_jobs=e.integer("OLIST_SPARK_CONCURRENT_JOBS", 3),
            jdbc_jar=Path(jdbc_jar) if jdbc_jar else None,
            remote=f"sc://127.0.0.1:{connect_port}" if use_connect else None,
            connect_port=connect_port,
        ),
        local=LocalStackSettings(
            state_dir=state_dir,
            pg_port=pg_port,
            kafka_port=kafka_port,
            kafka_controller_port=e.port("OLIST_KAFKA_CONTROLLER_PORT"),
            prometheus_port=e.port("OLIST_PROMETHEUS_PORT"),
            pushgateway_port=e.port("OLIST_PUSHGATEWAY_PORT"),
            pg_exporter_port=e.port("OLIST_PG_EXPORTER_PORT"),
            pg_os_user=env.get("OLIST_PG_OS_USER") or "postgres",
            pg_bindir=Path(pg_bindir) if (pg_bindir := e.opt("OLIST_PG_BINDIR")) else None,
            kafka_heap=env.get("OLIST_KAFKA_HEAP") or "1g",
            monitoring_dir=Path(env.get("OLIST_MONITORING_DIR") or root / "monitoring").resolve(),
        ),
        cluster=ClusterSettings(
            api_port=e.port("OLIST_CLUSTER_API_PORT"),
            etcd_port=e.port("OLIST_CLUSTER_ETCD_PORT"),
            etcd_peer_port=e.port("OLIST_CLUSTER_ETCD_PEER_PORT"),
            controller_manager_port=e.port("OLIST_CLUSTER_CONTROLLER_MANAGER_PORT"),
            scheduler_port=e.port("OLIST_CLUSTER_SCHEDULER_PORT"),
            kubelet_port=e.port("OLIST_CLUSTER_KUBELET_PORT"),
        ),
        data_dir=Path(data_dir).resolve() if data_dir else None,
        log_level=env.get("OLIST_LOG_LEVEL", "INFO").upper(),
        log_format=env.get("OLIST_LOG_FORMAT", "json").lower(),
        log_file=Path(log_file) if log_file else None,
        metrics_port=e.integer("OLIST_METRICS_PORT", 0),
        pushgateway_url=e.opt("OLIST_PUSHGATEWAY_URL"),
        run_id=e.opt("OLIST_RUN_ID"),
        landing_dir=landing_dir(env, target, state_dir),
        airflow_user=env.get("OLIST_AIRFLOW_USER") or "admin",
        airflow_password=env.get("OLIST_AIRFLOW_PASSWORD") or "admin",
    )


def spark_version() -> str:
    """Our Spark's version: pyproject's pyspark pin, as installed (the only place it is
    written; the SparkApplications, the Kafka source's jars and the image take it from
    there)."""
    from importlib.metadata import version

    return version("pyspark")
