"""Local monitoring services: Prometheus, the Pushgateway, the PostgreSQL exporter.

All three come from Debian (``prometheus``, ``prometheus-pushgateway``,
``prometheus-postgres-exporter``), run as our own processes on 127.0.0.1 with
their state under ``.local/``, and start only when asked
(``olist stack up monitor`` / ``make monitor``) so ``olist stack up`` stays
fast. Prometheus loads the project's rule files (``monitoring/rules``) and
scrapes the declared stream consumers (file_sd), the Pushgateway (batch steps,
DQ, parity, Airflow callbacks) and the PostgreSQL exporter.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from string import Template

from olist_pipeline.config import Role, Settings
from olist_pipeline.logs import get_logger
from olist_pipeline.stack.prereqs import PrerequisiteError
from olist_pipeline.stack.service import Daemon, StackError

log = get_logger(__name__)

# Where the local consumers serve /metrics unless told otherwise: start them
# with `olist stream consume --stream orders --metrics-port 19111` (payments:
# 19112) and Prometheus scrapes them. Edit .local/prometheus/targets/consumers.json
# (re-read on change) to point elsewhere.
DEFAULT_CONSUMER_PORTS: Mapping[str, int] = {"orders": 19111, "payments": 19112}


def _binary(name: str, package: str) -> str:
    found = shutil.which(name)
    if not found:
        raise PrerequisiteError(
            f"{name} is not installed; install Debian's `{package}` package "
            f"(`sudo apt-get install {package}`, or `make setup` as root)."
        )
    return found


def _http_ok(url: str, timeout: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 (loopback URL we built)
            return 200 <= int(resp.status) < 300
    except (urllib.error.URLError, OSError, ValueError):
        return False


class _Daemon(Daemon):
    """A monitoring binary from Debian: its package is named when it is missing."""

    package = ""

    def check_prerequisites(self) -> None:
        _binary(self.binary, self.package)

    def health_url(self) -> str:
        return f"{self.url}/-/ready"

    def healthy(self) -> bool:
        return _http_ok(self.health_url())


class PushgatewayService(_Daemon):
    """Where short-lived batch steps leave their metrics for Prometheus to scrape."""

    name = "pushgateway"
    binary = "prometheus-pushgateway"
    package = "prometheus-pushgateway"
    port_variable = "OLIST_PUSHGATEWAY_PORT"

    def __init__(self, settings: Settings, port: int | None = None, root: Path | None = None):
        super().__init__(
            settings,
            settings.local.pushgateway_port if port is None else port,
            root or settings.local.state_dir / "pushgateway",
        )

    def argv(self) -> list[str]:
        return [
            _binary(self.binary, self.package),
            f"--web.listen-address={self.address}",
            # Survives restarts: batch metrics are pushed once per run.
            f"--persistence.file={self.root / 'metrics.store'}",
            "--persistence.interval=30s",
        ]


class PostgresExporterService(_Daemon):
    """``pg_up`` and server statistics, as the read-only login (OlistPostgresDown)."""

    name = "postgres-exporter"
    binary = "prometheus-postgres-exporter"
    package = "prometheus-postgres-exporter"
    port_variable = "OLIST_PG_EXPORTER_PORT"

    def __init__(self, settings: Settings, port: int | None = None, root: Path | None = None):
        if port is None:
            port = settings.local.pg_exporter_port
        super().__init__(settings, port, root or settings.local.state_dir / "postgres-exporter")

    def health_url(self) -> str:
        return f"{self.url}/metrics"

    def argv(self) -> list[str]:
        return [
            _binary(self.binary, self.package),
            f"--web.listen-address={self.address}",
            "--disable-settings-metrics",
        ]

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["DATA_SOURCE_NAME"] = self.settings.postgres.dsn(Role.READER) + "?sslmode=disable"
        return env


class PrometheusService(_Daemon):
    """Prometheus with the project's rules, scraping consumers, Pushgateway and exporter.

    Tests build their own on a free port and state folder, with short
    intervals; the rules are always the checkout's ``monitoring/rules``.
    """

    name = "prometheus"
    binary = "prometheus"
    package = "prometheus"
    port_variable = "OLIST_PROMETHEUS_PORT"

    def __init__(
        self,
        settings: Settings,
        port: int | None = None,
        root: Path | None = None,
        *,
        scrape_interval: str = "15s",
        evaluation_interval: str = "15s",
        consumer_ports: Mapping[str, int] | None = None,
        pushgateway_address: str | None = None,
        postgres_exporter_address: str | None = None,
        rules_dir: Path | None = None,
    ) -> None:
        super().__init__(
            settings,
            settings.local.prometheus_port if port is None else port,
            root or settings.local.state_dir / "prometheus",
        )
        self.scrape_interval = scrape_interval
        self.evaluation_interval = evaluation_interval
        self.consumer_ports = dict(
            DEFAULT_CONSUMER_PORTS if consumer_ports is None else consumer_ports
        )
        self.pushgateway_address = (
            pushgateway_address or f"127.0.0.1:{settings.local.pushgateway_port}"
        )
        self.postgres_exporter_address = (
            postgres_exporter_address or f"127.0.0.1:{settings.local.pg_exporter_port}"
        )
        self.rules_dir = rules_dir or self.settings.local.monitoring_dir / "rules"
        self.config_file = self.root / "prometheus.yml"
        self.targets_dir = self.root / "targets"

    def render_config(self) -> str:
        template = (
            self.settings.local.monitoring_dir / "prometheus" / "prometheus.local.yml.tmpl"
        ).read_text()
        return Template(template).substitute(
            SCRAPE_INTERVAL=self.scrape_interval,
            EVALUATION_INTERVAL=self.evaluation_interval,
            RULES_DIR=str(self.rules_dir),
            TARGETS_DIR=str(self.targets_dir),
            PROMETHEUS_ADDRESS=self.address,
            PUSHGATEWAY_ADDRESS=self.pushgateway_address,
            POSTGRES_EXPORTER_ADDRESS=self.postgres_exporter_address,
        )

    def write_consumer_targets(self, ports: Mapping[str, int]) -> Path:
        """Declare the consumers to scrape (file_sd; Prometheus re-reads it on change)."""
        self.targets_dir.mkdir(parents=True, exist_ok=True)
        groups = [
            {"targets": [f"127.0.0.1:{port}"], "labels": {"consumer": stream}}
            for stream, port in sorted(ports.items())
        ]
        path = self.targets_dir / "consumers.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(groups, indent=2) + "\n")
        tmp.replace(path)  # atomic: Prometheus never reads half a file
        return path

    def prepare(self) -> None:
        self.config_file.write_text(self.render_config())
        if not (self.targets_dir / "consumers.json").exists():
            self.write_consumer_targets(self.consumer_ports)
        check = subprocess.run(
            [_binary("promtool", "prometheus"), "check", "config", str(self.config_file)],
            capture_output=True,
            text=True,
            check=False,
        )
        if check.returncode != 0:
            raise StackError(
                f"the Prometheus config {self.config_file} or its rules are invalid: "
                f"{(check.stdout + check.stderr).strip()[-800:]}"
            )

    def argv(self) -> list[str]:
        return [
            _binary(self.binary, self.package),
            f"--config.file={self.config_file}",
            f"--storage.tsdb.path={self.root / 'data'}",
            "--storage.tsdb.retention.time=15d",
            f"--web.listen-address={self.address}",
            # POST /-/reload after editing rules; no admin API.
            "--web.enable-lifecycle",
        ]

    def alerts(self) -> list[dict[str, object]]:
        """The alerts API (``/api/v1/alerts``): pending and firing alerts."""
        with urllib.request.urlopen(f"{self.url}/api/v1/alerts", timeout=5) as resp:  # noqa: S310
            body = json.loads(resp.read())
        alerts: list[dict[str, object]] = body["data"]["alerts"]
        return alerts

    def query(self, expr: str) -> list[dict[str, object]]:
        from urllib.parse import urlencode

        url = f"{self.url}/api/v1/query?{urlencode({'query': expr})}"
        with urllib.request.urlopen(url, timeout=5) as resp:  # noqa: S310
            body = json.loads(resp.read())
        result: list[dict[str, object]] = body["data"]["result"]
        return result
