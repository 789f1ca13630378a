"""The local Airflow UI: api-server, scheduler and dag-processor on 127.0.0.1.

``olist airflow ui`` (``make airflow``) starts the three Airflow 3 components
with the same metadata database as ``olist airflow run-batch`` (SQLite under
``<state_dir>/airflow``), so runs made by ``make run`` show up in the UI. It
signs users in with Airflow 3's Simple auth manager: one admin user whose
password is written to the passwords file before start (``OLIST_AIRFLOW_USER``
/ ``OLIST_AIRFLOW_PASSWORD``, default ``admin`` / ``admin``; loopback only).
DAGs start paused, so nothing runs until you unpause or trigger one.
Ctrl-C, SIGTERM or ``olist airflow stop`` stop every component.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from olist_pipeline.airflow.local_run import (
    airflow_env,
    default_airflow_home,
    default_dags_folder,
)
from olist_pipeline.config import Settings
from olist_pipeline.errors import OlistError, UsageError
from olist_pipeline.logs import get_logger

log = get_logger("olist.airflow.ui")

COMPONENTS = ("api-server", "scheduler", "dag-processor")
# The scheduler's log server would listen on every interface (port 8793); the
# api-server reads task logs from the local log folder instead.
COMPONENT_ARGS: dict[str, tuple[str, ...]] = {"scheduler": ("--skip-serve-logs",)}
DEFAULT_PORT = 18080
PID_FILE = "ui.pid"


class AirflowUIError(OlistError):
    pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def credentials(settings: Settings) -> tuple[str, str]:
    return settings.airflow_user, settings.airflow_password


def _secret(home: Path, name: str) -> str:
    """A random secret kept in AIRFLOW_HOME: every component must sign with the same one."""
    path = home / f".{name}"
    if not path.is_file():
        path.write_text(secrets.token_urlsafe(32))
        path.chmod(0o600)
    return path.read_text().strip()


def ui_env(settings: Settings, home: Path, dags: Path, port: int) -> dict[str, str]:
    user, password = credentials(settings)
    passwords = home / "simple_auth_manager_passwords.json"
    passwords.write_text(json.dumps({user: password}))
    passwords.chmod(0o600)
    base = f"http://127.0.0.1:{port}"
    return {
        **os.environ,
        **settings.to_env(),
        **airflow_env(home, dags),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__BASE_URL": base,
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{base}/execution/",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__PARALLELISM": "2",  # two cores; Spark alone wants both
        "AIRFLOW__CORE__AUTH_MANAGER": (
            "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
        ),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{user}:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
        "AIRFLOW__API_AUTH__JWT_SECRET": _secret(home, "jwt_secret"),
        "AIRFLOW__API__SECRET_KEY": _secret(home, "api_secret_key"),
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "30",
        "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "False",
    }


@dataclass
class AirflowUI:
    """Running Airflow components; ``stop()`` ends them (SIGTERM, then SIGKILL)."""

    url: str
    home: Path
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def alive(self) -> bool:
        return all(p.poll() is None for p in self.procs.values())

    def stop(self, grace_s: float = 15) -> None:
        for p in self.procs.values():
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        for p in self.procs.values():
            try:
                p.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
        (self.home / PID_FILE).unlink(missing_ok=True)
        log.info("airflow_ui_stopped", url=self.url)


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/api/v2/monitor/health", timeout=3) as r:  # noqa: S310
            return bool(r.status == 200)
    except OSError:
        return False


def start_ui(
    settings: Settings,
    port: int = DEFAULT_PORT,
    *,
    airflow_home: Path | None = None,
    dags_folder: Path | None = None,
    timeout_s: float = 180,
) -> AirflowUI:
    """Migrate the metadata database, start the components, wait until the UI answers."""
    home = (airflow_home or default_airflow_home(settings)).resolve()
    dags = (dags_folder or default_dags_folder()).resolve()
    (home / "logs").mkdir(parents=True, exist_ok=True)
    with socket.socket() as s:
        if s.connect_ex(("127.0.0.1", port)) == 0:
            raise UsageError(
                f"port {port} on 127.0.0.1 is in use (another Airflow UI?); "
                "stop it with `olist airflow stop` or choose --port"
            )
    env = ui_env(settings, home, dags, port)
    airflow = str(Path(sys.executable).with_name("airflow"))
    migrate = subprocess.run(
        [airflow, "db", "migrate"], env=env, capture_output=True, text=True, check=False
    )
    if migrate.returncode != 0:
        raise AirflowUIError(f"airflow db migrate failed:\n{migrate.stderr[-2000:]}")
    ui = AirflowUI(url=f"http://127.0.0.1:{port}", home=home)
    try:
        for name in COMPONENTS:
            out = (home / "logs" / f"{name}.log").open("ab")
            cmd = [airflow, name, *COMPONENT_ARGS.get(name, ())]
            if name == "api-server":
                cmd += ["--host", "127.0.0.1", "--port", str(port)]
            # Own process group: stop() ends each component with its workers.
            ui.procs[name] = subprocess.Popen(
                cmd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        (home / PID_FILE).write_text(str(os.getpid()))
        deadline = time.monotonic() + timeout_s
        while not _healthy(ui.url):
            if not ui.alive():
                dead = [n for n, p in ui.procs.items() if p.poll() is not None]
                raise AirflowUIError(
                    f"Airflow {', '.join(dead)} exited; see {home / 'logs'}/<component>.log"
                )
            if time.monotonic() > deadline:
                raise AirflowUIError(f"the Airflow UI did not answer within {timeout_s:.0f}s")
            time.sleep(1)
    except BaseException:
        ui.stop()
        raise
    log.info("airflow_ui_started", url=ui.url, airflow_home=str(home))
    return ui


def serve(settings: Settings, port: int = DEFAULT_PORT) -> int:
    """Start the UI and block until Ctrl-C / SIGTERM, then stop every component."""
    ui = start_ui(settings, port)
    user, password = credentials(settings)
    print(f"Airflow UI: {ui.url}  (user {user}, password {password}); Ctrl-C stops it", flush=True)

    def _term(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _term)
    try:
        while ui.alive():
            time.sleep(1)
        print("an Airflow component exited; stopping the others", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        # A second Ctrl-C / SIGTERM must not cut the shutdown short.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        ui.stop()


def stop(settings: Settings) -> bool:
    """Stop a UI started by ``serve`` (its supervisor's pid is in AIRFLOW_HOME/ui.pid)."""
    pid_file = default_airflow_home(settings) / PID_FILE
    if not pid_file.is_file():
        return False
    pid = int(pid_file.read_text().strip())
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        pid_file.unlink(missing_ok=True)
        return False
    for _ in range(60):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.5)
    return True
