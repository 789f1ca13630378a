"""`olist stack up | status | down` on a second, private stack (own ports and state)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from olist_pipeline.config import Settings

pytestmark = pytest.mark.integration


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _port_open(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True


def _olist(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "olist_pipeline.cli", *args],
        env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip


def _state(status: str, service: str) -> str | None:
    """The state column of ``service`` in `olist stack status` (columns are padded)."""
    for line in status.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0] == service:
            return parts[1]
    return None


@pytest.fixture
def private_env(base_settings: Settings) -> Iterator[dict[str, str]]:
    # Inside the main state dir (not /tmp/pytest-of-root, which is mode 700)
    # so the unprivileged PostgreSQL user can reach its data directory.
    parent = base_settings.local.state_dir / "tmp"
    parent.mkdir(parents=True, exist_ok=True)
    state = Path(tempfile.mkdtemp(prefix="stack-", dir=parent))
    state.chmod(0o755)
    # The jars are shared with the main stack so this test does not re-download.
    (state / "jars").symlink_to(base_settings.local.jars_dir)
    yield {
        **os.environ,
        "OLIST_STATE_DIR": str(state),
        "OLIST_PG_PORT": str(_free_port()),
        "OLIST_KAFKA_PORT": str(_free_port()),
        "OLIST_KAFKA_CONTROLLER_PORT": str(_free_port()),
        "OLIST_KAFKA_HEAP": "384m",
        "OLIST_SPARK_CONNECT_PORT": str(_free_port()),
        "OLIST_SPARK_DRIVER_MEMORY": "512m",
    }
    shutil.rmtree(state, ignore_errors=True)


def test_up_status_down_is_idempotent(private_env: dict[str, str]) -> None:
    try:
        up = _olist(private_env, "stack", "up")
        assert up.returncode == 0, up.stderr
        status = _olist(private_env, "stack", "status").stdout
        assert _state(status, "postgres") == "up" and _state(status, "kafka") == "up"
        assert _state(status, "spark-connect") == "up"
        assert f"127.0.0.1:{private_env['OLIST_PG_PORT']}" in status
        assert f"sc://127.0.0.1:{private_env['OLIST_SPARK_CONNECT_PORT']}" in status

        again = _olist(private_env, "stack", "up")  # already up: a no-op
        assert again.returncode == 0, again.stderr

        dsn = _olist(private_env, "stack", "dsn").stdout.strip()
        assert dsn.startswith("postgresql://") and private_env["OLIST_PG_PORT"] in dsn
    finally:
        down = _olist(private_env, "stack", "down")
    assert down.returncode == 0, down.stderr
    status = _olist(private_env, "stack", "status").stdout
    assert _state(status, "postgres") == "down" and _state(status, "kafka") == "down"
    assert _state(status, "spark-connect") == "down"
    assert not _port_open(int(private_env["OLIST_SPARK_CONNECT_PORT"]))
    assert _olist(private_env, "stack", "down").returncode == 0  # stopping twice is fine


def test_port_in_use_is_a_clear_error(private_env: dict[str, str]) -> None:
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", int(private_env["OLIST_PG_PORT"])))
        blocker.listen()
        out = _olist(private_env, "stack", "up", "postgres")
    try:
        assert out.returncode == 1
        assert f"port {private_env['OLIST_PG_PORT']} on 127.0.0.1 is already in use" in out.stderr
        assert "OLIST_PG_PORT" in out.stderr
        assert "Traceback" not in out.stderr
    finally:
        _olist(private_env, "stack", "down")


def test_a_connect_client_exits_at_once_when_the_server_went_first(
    private_env: dict[str, str],
) -> None:
    # The Connect client's exit hook calls the server; with the server gone it would
    # retry for many minutes (seen: a test session held after its summary line).
    probe = (
        "import subprocess, sys\n"
        "from olist_pipeline.config import load_settings\n"
        "from olist_pipeline.transform.spark import spark_session\n"
        "spark = spark_session(load_settings(), 'exit-probe')\n"
        "assert spark.range(5).count() == 5\n"
        "down = [sys.executable, '-m', 'olist_pipeline.cli', 'stack', 'down', 'spark-connect']\n"
        "assert subprocess.run(down, capture_output=True).returncode == 0\n"
    )
    try:
        assert _olist(private_env, "stack", "up", "spark-connect").returncode == 0
        out = subprocess.run(
            [sys.executable, "-c", probe],
            env=private_env, capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        assert out.returncode == 0, out.stderr[-2000:]
    finally:
        _olist(private_env, "stack", "down")
