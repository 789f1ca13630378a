"""Shared by the Airflow integration and e2e tests: one real olist_batch run per session.

A real end-to-end run of olist_batch (generated data at scale 0.01, real
PostgreSQL, Spark and DQ) takes minutes on two cores (three Spark JVMs), so the integration test
(warehouse/marts filled, gates passed) and the browser test (the run shows as
successful in the UI) share one run. It gets its own database cloned from
the session template, its own AIRFLOW_HOME and its own Pushgateway; all are
removed at the end of the session.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from olist_pipeline.config import Role, Settings

PUSHGATEWAY = shutil.which("prometheus-pushgateway") or "/usr/bin/prometheus-pushgateway"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Pushgateway:
    """A real Pushgateway (Debian's binary) on a free loopback port."""

    def __init__(self, workdir: Path) -> None:
        if not Path(PUSHGATEWAY).is_file():
            pytest.skip("prometheus-pushgateway is not installed (make setup installs it)")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = (workdir / "pushgateway.log").open("wb")
        self.proc = subprocess.Popen(
            [
                PUSHGATEWAY,
                f"--web.listen-address=127.0.0.1:{self.port}",
                # Debian's build persists to /var/lib/prometheus by default: shared state.
                f"--persistence.file={workdir / 'pushgateway.data'}",
            ],
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"{self.url}/-/ready", timeout=2):
                    break
            except OSError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise RuntimeError("the Pushgateway did not start") from None
                time.sleep(0.2)

    def metrics(self) -> str:
        with urllib.request.urlopen(f"{self.url}/metrics", timeout=5) as r:
            return str(r.read().decode())

    def value(self, name: str, **labels: str) -> float | None:
        from prometheus_client.parser import text_string_to_metric_families

        for family in text_string_to_metric_families(self.metrics()):
            for sample in family.samples:
                if sample.name == name and all(
                    sample.labels.get(k) == v for k, v in labels.items()
                ):
                    return float(sample.value)
        return None

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)
        self.log.close()


@dataclass
class BatchRun:
    settings: Settings
    result: Any  # olist_pipeline.pipeline.local_run.DagRunResult
    airflow_home: Path
    data_dir: Path
    pushgateway: Pushgateway


_SHARED: dict[str, Any] = {}
# Fixture setup counts towards pytest-timeout's per-test limit; a busy machine
# needs more than the default for three Spark jobs.
RUN_TIMEOUT_S = 2400


def shared_batch_run(
    request: pytest.FixtureRequest,
    template_database: str,
    base_settings: Settings,
    tmp_path_factory: pytest.TempPathFactory,
) -> BatchRun:
    if "run" in _SHARED:
        return _SHARED["run"]
    if "error" in _SHARED:  # a failed setup is not retried by the next module
        pytest.fail(f"the shared olist_batch run could not be set up: {_SHARED['error']}")
    try:
        _SHARED["run"] = _set_up(request, template_database, base_settings, tmp_path_factory)
    except BaseException as exc:
        _SHARED["error"] = repr(exc)
        raise
    return _SHARED["run"]


def _set_up(
    request: pytest.FixtureRequest,
    template_database: str,
    base_settings: Settings,
    tmp_path_factory: pytest.TempPathFactory,
) -> BatchRun:
    import psycopg
    from psycopg import sql

    from olist_pipeline.db.migrate import migrate
    from olist_pipeline.pipeline.local_run import run_batch_dag

    work = tmp_path_factory.mktemp("olist-batch-run")
    name = f"olist_af_{uuid.uuid4().hex[:10]}"
    admin = base_settings.postgres.dsn(Role.ADMIN, "postgres")
    with psycopg.connect(admin, autocommit=True) as c:
        c.execute(
            sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                sql.Identifier(name), sql.Identifier(template_database)
            )
        )

    def drop() -> None:
        with psycopg.connect(admin, autocommit=True) as c:
            c.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )

    request.config.add_cleanup(drop)
    settings = base_settings.with_database(name)
    migrate(settings)  # database-level grants are not copied from the template

    data_dir = work / "data"
    olist = str(Path(sys.executable).with_name("olist"))
    generate = [olist, "data", "generate", "--scale", "0.01", "--seed", "7", "--out", str(data_dir)]
    subprocess.run(generate, check=True, capture_output=True)
    gateway = Pushgateway(work)
    request.config.add_cleanup(gateway.stop)
    from dataclasses import replace

    settings = replace(settings, pushgateway_url=gateway.url)
    home = work / "airflow"
    result = run_batch_dag(settings, f"it-{uuid.uuid4().hex[:8]}", data_dir, airflow_home=home)
    return BatchRun(settings, result, home, data_dir, gateway)
