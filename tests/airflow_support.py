"""Shared by the Airflow integration and e2e tests: one real olist_batch run per session.

A real end-to-end run of olist_batch (generated data at scale 0.01, real
PostgreSQL, Spark and DQ) takes minutes on two cores (three Spark JVMs), so the integration test
(warehouse/marts filled, gates passed) and the browser test (the run shows as
successful in the UI) share one run. It gets its own database cloned from
the session template, its own AIRFLOW_HOME and its own Pushgateway; all are
removed at the end of the session, before the session's stack is stopped.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from olist_pipeline.config import Settings

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
                    self.stop()
                    raise RuntimeError(
                        f"the Pushgateway did not start: see {workdir / 'pushgateway.log'}"
                    ) from None
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
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.log.close()


@dataclass
class BatchRun:
    settings: Settings
    result: Any  # olist_pipeline.airflow.local_run.DagRunResult
    airflow_home: Path
    data_dir: Path
    pushgateway: Pushgateway


# Fixture setup counts towards pytest-timeout's per-test limit; a busy machine
# needs more than the default for three Spark jobs.
RUN_TIMEOUT_S = 2400


@contextmanager
def batch_run_session(
    template_database: str, base_settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[BatchRun]:
    """The shared run; its database and Pushgateway go when the block ends.

    Entered by the session fixture ``batch_run`` (tests/conftest.py), which
    depends on ``template_database`` and so on ``local_stack``: pytest tears
    it down before the PostgreSQL it needs is stopped.
    """
    from olist_pipeline.airflow.local_run import run_batch_dag
    from tests.conftest import cloned_database

    work = tmp_path_factory.mktemp("olist-batch-run")
    with cloned_database(base_settings, template_database, "olist_af_") as db:
        data_dir = work / "data"
        olist = str(Path(sys.executable).with_name("olist"))
        generate = [
            olist, "data", "generate", "--scale", "0.01", "--seed", "7", "--out", str(data_dir)
        ]  # fmt: skip
        subprocess.run(generate, check=True, capture_output=True)
        gateway = Pushgateway(work)
        try:
            settings = replace(db, pushgateway_url=gateway.url)
            home = work / "airflow"
            run_id = f"it-{uuid.uuid4().hex[:8]}"
            result = run_batch_dag(settings, run_id, data_dir, airflow_home=home)
            yield BatchRun(settings, result, home, data_dir, gateway)
        finally:
            gateway.stop()
