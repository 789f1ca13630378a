"""The local target's services, for real, on 127.0.0.1 only.

``olist stack up`` starts a PostgreSQL server (Debian's binaries), a
single-node Apache Kafka broker in KRaft mode (official jars from Maven
Central, run with ``java -cp``) and a Spark Connect server (pyspark's own
jars; ``stack.spark_connect``). Everything lives under the git-ignored
state directory (``.local/``): data, configs, pid files and logs. Every
operation is idempotent: starting a running service or stopping a stopped
one does nothing.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from olist_pipeline.config import Role, Settings
from olist_pipeline.logs import get_logger
from olist_pipeline.stack import jars
from olist_pipeline.stack.prereqs import PrerequisiteError, java_binary, postgres_binaries
from olist_pipeline.stack.service import (
    Service,
    ServiceState,
    StackError,
    pid_alive,
    port_in_use,
    require_free,
    wait_for,
)

log = get_logger(__name__)

# StackError and ServiceState are part of this module's face (LocalStack raises and
# returns them); they live in stack.service, below every service module.
__all__ = [
    "GROUPS", "ON_DEMAND", "SERVICES", "KafkaService", "LocalStack", "PostgresService",
    "ServiceState", "StackError", "port_in_use",
]  # fmt: skip


def _kafka_cluster_id() -> str:
    # One id in 64 would start with "-", which kafka-storage's argument parser
    # reads as an option ("expected one argument"); Kafka's own generator
    # skips those ids too.
    while (cid := base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("="))[0] == "-":
        pass
    return cid


def _own_state(
    service: PostgresService | KafkaService, pid: int | None, marker: str
) -> ServiceState:
    """A service the stack runs itself: up when its pid is alive and names ``marker``."""
    running = pid is not None and pid_alive(pid, marker)
    return ServiceState(
        service.name,
        running=running,
        healthy=running and service._healthy(),
        address=service.address,
        pid=pid if running else None,
        detail=str(service.data),
    )


class PostgresService:
    """A PostgreSQL server with its own data directory, TCP on 127.0.0.1 only."""

    name = "postgres"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.port = settings.local.pg_port
        self.root = self._root(settings.local.state_dir)
        self.data = self.root / "data"
        self.log_file = self.root / "postgres.log"

    # initdb refuses to run as root, so as root the server runs as the
    # unprivileged `postgres` account (created by Debian's package).
    def _os_user(self) -> str | None:
        if os.geteuid() != 0:
            return None
        name = self.settings.local.pg_os_user
        try:
            pwd.getpwnam(name)
        except KeyError:
            raise PrerequisiteError(
                f"running as root, the PostgreSQL server needs an unprivileged OS user "
                f"{name!r}, which does not exist. Install `postgresql` (it creates one) or "
                f"set OLIST_PG_OS_USER to an existing user."
            ) from None
        return name

    def _root(self, state_dir: Path) -> Path:
        user = self._os_user()
        wanted = state_dir / "postgres"
        if user is None or self._reachable_by(user, state_dir):
            return wanted
        # The checkout sits where the server's user cannot reach (e.g. under
        # /root); keep the cluster in a per-checkout folder it can reach.
        digest = hashlib.sha256(str(state_dir).encode()).hexdigest()[:12]
        return Path("/var/lib/olist-pipeline") / digest / "postgres"

    @staticmethod
    def _reachable_by(user: str, path: Path) -> bool:
        entry = pwd.getpwnam(user)
        for parent in [path, *path.parents]:
            if not parent.exists():
                continue
            st = parent.stat()
            if st.st_uid == entry.pw_uid:
                continue
            if not st.st_mode & 0o001:
                return False
        return True

    def _run(self, argv: Sequence[str], **kw: object) -> subprocess.CompletedProcess[str]:
        user = self._os_user()
        full = ["runuser", "-u", user, "--", *argv] if user else list(argv)
        return subprocess.run(full, capture_output=True, text=True, check=False, **kw)  # type: ignore[call-overload, no-any-return]

    def _chown(self, path: Path) -> None:
        user = self._os_user()
        if user:
            shutil.chown(path, user=user, group=pwd.getpwnam(user).pw_gid)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _pid(self) -> int | None:
        pidfile = self.data / "postmaster.pid"
        try:
            return int(pidfile.read_text().splitlines()[0])
        except (OSError, ValueError, IndexError):
            return None

    def _healthy(self) -> bool:
        import psycopg

        try:
            with psycopg.connect(
                self.settings.postgres.dsn(Role.ADMIN, database="postgres"), connect_timeout=2
            ) as conn:
                conn.execute("SELECT 1")
            return True
        except psycopg.Error:
            return False

    def state(self) -> ServiceState:
        return _own_state(self, self._pid(), "postgres")

    def _initdb(self) -> None:
        bins = postgres_binaries(self.settings.local.pg_bindir)
        self.root.mkdir(parents=True, exist_ok=True)
        self._chown(self.root)
        pwfile = self.root / ".pwfile"
        pwfile.write_text(self.settings.postgres.creds(Role.ADMIN).password + "\n")
        pwfile.chmod(0o600)
        self._chown(pwfile)
        try:
            out = self._run(
                [
                    bins["initdb"],
                    "-D", str(self.data),
                    "-U", self.settings.postgres.creds(Role.ADMIN).user,
                    f"--pwfile={pwfile}",
                    "--auth-host=scram-sha-256",
                    "--auth-local=peer",
                    "-E", "UTF8",
                    "--no-locale",
                ]
            )  # fmt: skip
        finally:
            pwfile.unlink(missing_ok=True)
        if out.returncode != 0:
            raise StackError(f"initdb failed: {out.stderr.strip() or out.stdout.strip()}")
        conf = self.data / "postgresql.conf"
        with conf.open("a", encoding="utf-8") as f:
            f.write(
                "\n# olist-pipeline local target\n"
                "listen_addresses = '127.0.0.1'\n"
                "unix_socket_directories = ''\n"
                "max_connections = 200\n"
                "shared_buffers = 512MB\n"
                "work_mem = 32MB\n"
                "maintenance_work_mem = 256MB\n"
                # Minimal WAL lets COPY into a table created in the same
                # transaction skip WAL entirely (bulk loads).
                "wal_level = minimal\n"
                "max_wal_senders = 0\n"
                "max_wal_size = 4GB\n"
                "checkpoint_timeout = 15min\n"
                "timezone = 'UTC'\n"
                "log_timezone = 'UTC'\n"
            )
        (self.data / "pg_hba.conf").write_text(
            "# olist-pipeline local target: passwords over loopback TCP only\n"
            "local all all peer\n"
            "host all all 127.0.0.1/32 scram-sha-256\n"
        )

    def start(self) -> None:
        if self.state().running:
            return
        bins = postgres_binaries(self.settings.local.pg_bindir)
        if not (self.data / "PG_VERSION").exists():
            self._initdb()
        require_free(self.port, "PostgreSQL", "OLIST_PG_PORT")
        (self.data / "postmaster.pid").unlink(missing_ok=True)
        self.log_file.touch(exist_ok=True)
        self._chown(self.log_file)
        out = self._run(
            [
                bins["pg_ctl"], "start", "-D", str(self.data), "-l", str(self.log_file),
                "-o", f"-p {self.port}", "-w", "-t", "60",
            ]
        )  # fmt: skip
        if out.returncode != 0:
            raise StackError(
                f"PostgreSQL did not start: {out.stderr.strip() or out.stdout.strip()}; "
                f"see {self.log_file}"
            )
        wait_for(self._healthy, 30, "PostgreSQL", self.log_file)

    def stop(self) -> None:
        if not self.state().running:
            return
        bins = postgres_binaries(self.settings.local.pg_bindir)
        out = self._run([bins["pg_ctl"], "stop", "-D", str(self.data), "-m", "fast", "-w"])
        if out.returncode != 0:
            raise StackError(f"PostgreSQL did not stop: {out.stderr.strip()}")

    def kill(self) -> None:
        """SIGKILL the postmaster (crash simulation for reliability tests)."""
        pid = self._pid()
        if pid and pid_alive(pid, "postgres"):
            os.kill(pid, signal.SIGKILL)
            wait_for(lambda: not pid_alive(pid, "postgres"), 10, "postgres kill", self.log_file)


class KafkaService:
    """A single-node Apache Kafka broker+controller in KRaft mode."""

    name = "kafka"
    _MARKER = "kafka.Kafka"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.port = settings.local.kafka_port
        self.controller_port = settings.local.kafka_controller_port
        self.root = settings.local.state_dir / "kafka"
        self.data = self.root / "data"
        self.pidfile = self.root / "kafka.pid"
        self.log_file = settings.local.logs_dir / "kafka.log"

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _pid(self) -> int | None:
        try:
            return int(self.pidfile.read_text().strip())
        except (OSError, ValueError):
            return None

    def _healthy(self) -> bool:
        from confluent_kafka.admin import AdminClient

        # Probe the socket first: librdkafka would log every refused connect.
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
        except OSError:
            return False
        admin = AdminClient(
            {
                "bootstrap.servers": self.address,
                "socket.connection.setup.timeout.ms": 2000,
                "log_level": 0,
            }
        )
        try:
            md = admin.list_topics(timeout=3)
        except Exception:  # broker not answering yet: any client error means "not healthy"
            return False
        return bool(md.brokers)

    def state(self) -> ServiceState:
        return _own_state(self, self._pid(), self._MARKER)

    def _write_config(self) -> Path:
        self.root.mkdir(parents=True, exist_ok=True)
        props = self.root / "server.properties"
        props.write_text(
            "# olist-pipeline local target: one KRaft node, loopback only\n"
            "process.roles=broker,controller\n"
            "node.id=1\n"
            f"controller.quorum.voters=1@127.0.0.1:{self.controller_port}\n"
            f"listeners=PLAINTEXT://127.0.0.1:{self.port},"
            f"CONTROLLER://127.0.0.1:{self.controller_port}\n"
            f"advertised.listeners=PLAINTEXT://127.0.0.1:{self.port}\n"
            "controller.listener.names=CONTROLLER\n"
            "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT\n"
            "inter.broker.listener.name=PLAINTEXT\n"
            f"log.dirs={self.data}\n"
            # Topics are declared as code and created explicitly.
            "auto.create.topics.enable=false\n"
            "num.partitions=3\n"
            "offsets.topic.replication.factor=1\n"
            "transaction.state.log.replication.factor=1\n"
            "transaction.state.log.min.isr=1\n"
            "share.coordinator.state.topic.replication.factor=1\n"
            "share.coordinator.state.topic.min.isr=1\n"
            "group.initial.rebalance.delay.ms=0\n"
            "log.retention.hours=168\n"
        )
        log4j = self.root / "log4j2.properties"
        log4j.write_text(
            "status = warn\n"
            "appender.out.type = Console\n"
            "appender.out.name = STDOUT\n"
            "appender.out.layout.type = PatternLayout\n"
            "appender.out.layout.pattern = [%d] %p %m (%c)%n\n"
            "rootLogger.level = INFO\n"
            "rootLogger.appenderRef.out.ref = STDOUT\n"
            "logger.kafka.name = kafka\nlogger.kafka.level = WARN\n"
            "logger.state.name = state.change.logger\nlogger.state.level = WARN\n"
            "logger.apache.name = org.apache.kafka\nlogger.apache.level = WARN\n"
        )
        return props

    def _java(self, main: str, *args: str, heap: str = "256m") -> list[str]:
        classpath = f"{jars.lib_dir(self.settings)}/*"
        return [
            java_binary(),
            f"-Xmx{heap}",
            f"-Dlog4j2.configurationFile={self.root / 'log4j2.properties'}",
            "-cp",
            classpath,
            main,
            *args,
        ]

    def start(self) -> None:
        if self.state().running:
            return
        jars.ensure(self.settings)
        props = self._write_config()
        if not (self.data / "meta.properties").exists():
            self.data.mkdir(parents=True, exist_ok=True)
            out = subprocess.run(
                self._java(
                    "kafka.tools.StorageTool",
                    "format", "-t", _kafka_cluster_id(), "-c", str(props),
                ),
                capture_output=True, text=True, check=False,
            )  # fmt: skip
            if out.returncode != 0:
                raise StackError(f"formatting Kafka storage failed: {out.stderr.strip()[-500:]}")
        require_free(self.port, "Kafka", "OLIST_KAFKA_PORT")
        require_free(self.controller_port, "the Kafka controller", "OLIST_KAFKA_CONTROLLER_PORT")
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        with self.log_file.open("ab") as out_f:
            proc = subprocess.Popen(
                self._java(self._MARKER, str(props), heap=self.settings.local.kafka_heap),
                stdout=out_f,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        self.pidfile.write_text(str(proc.pid))

        def ready() -> bool:
            if proc.poll() is not None:
                raise StackError(
                    f"Kafka exited during start-up (code {proc.returncode}); see {self.log_file}"
                )
            return self._healthy()

        wait_for(ready, 90, "Kafka", self.log_file)

    def _signal(self, sig: int, timeout: float) -> None:
        pid = self._pid()
        if pid is None or not pid_alive(pid, self._MARKER):
            self.pidfile.unlink(missing_ok=True)
            return
        os.kill(pid, sig)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and pid_alive(pid, self._MARKER):
            time.sleep(0.2)
        # Reap it if it was our child (same process that started it).
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        if pid_alive(pid, self._MARKER):
            os.kill(pid, signal.SIGKILL)
            time.sleep(0.5)
        self.pidfile.unlink(missing_ok=True)

    def stop(self) -> None:
        self._signal(signal.SIGTERM, timeout=30)

    def kill(self) -> None:
        """SIGKILL the broker (crash simulation for reliability tests)."""
        self._signal(signal.SIGKILL, timeout=5)


ServiceFactory = Callable[[Settings], Service]


def _monitoring(class_name: str) -> ServiceFactory:
    # Imported when built: `olist stack up` alone never loads the monitoring services.
    def make(settings: Settings) -> Service:
        from olist_pipeline.stack import monitoring

        service: Service = getattr(monitoring, class_name)(settings)
        return service

    return make


def _spark_connect(settings: Settings) -> Service:
    from olist_pipeline.stack.spark_connect import SparkConnectService

    return SparkConnectService(settings)


def _cluster(name: str) -> ServiceFactory:
    def make(settings: Settings) -> Service:
        from olist_pipeline.stack import cluster

        return cluster.CLUSTER_SERVICES[name](settings)

    return make


_CLUSTER = (
    "etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "node-logs", "kwok",
)  # fmt: skip

# Start order; stop runs in reverse. Later issues register more services here.
SERVICES: dict[str, ServiceFactory] = {
    "postgres": PostgresService,
    "kafka": KafkaService,
    # The warm JVM every local transform runs in (stack.spark_connect).
    "spark-connect": _spark_connect,
    **{name: _cluster(name) for name in _CLUSTER},
    "pushgateway": _monitoring("PushgatewayService"),
    "postgres-exporter": _monitoring("PostgresExporterService"),
    "prometheus": _monitoring("PrometheusService"),
}
# Started only when named (`olist stack up monitor`, `olist stack up cluster`), so
# `olist stack up` stays fast.
ON_DEMAND: frozenset[str] = frozenset({"pushgateway", "postgres-exporter", "prometheus", *_CLUSTER})
# Names that stand for several services.
GROUPS: dict[str, tuple[str, ...]] = {
    "monitor": ("pushgateway", "postgres-exporter", "prometheus"),
    # etcd, the API server, controller-manager, scheduler and kwok's simulated node.
    "cluster": _CLUSTER,
}


class LocalStack:
    def __init__(
        self, settings: Settings, names: Iterable[str] | None = None, *, everything: bool = False
    ) -> None:
        """``names`` (or groups) to manage; default: all but the on-demand ones,
        or really all with ``everything`` (status, down)."""
        self.settings = settings
        if names:
            wanted = [member for n in names for member in GROUPS.get(n, (n,))]
        else:
            wanted = [n for n in SERVICES if everything or n not in ON_DEMAND]
        unknown = [n for n in wanted if n not in SERVICES]
        if unknown:
            known = ", ".join([*SERVICES, *GROUPS])
            raise StackError(f"unknown service(s) {unknown}; known: {known}")
        self.services: list[Service] = [SERVICES[n](settings) for n in SERVICES if n in wanted]

    def service(self, name: str) -> Service:
        for s in self.services:
            if s.name == name:
                return s
        raise StackError(f"service {name!r} is not part of this stack")

    def up(self) -> list[ServiceState]:
        self.settings.local.logs_dir.mkdir(parents=True, exist_ok=True)
        for s in self.services:
            t0 = time.monotonic()
            s.start()
            log.info("service_up", service=s.name, seconds=round(time.monotonic() - t0, 2))
        return self.status()

    def down(self) -> list[ServiceState]:
        for s in reversed(self.services):
            s.stop()
            log.info("service_down", service=s.name)
        return self.status()

    def status(self) -> list[ServiceState]:
        return [s.state() for s in self.services]

    def restart(self, name: str) -> None:
        s = self.service(name)
        s.stop()
        s.start()

    def healthy(self) -> bool:
        return all(st.healthy for st in self.status())
