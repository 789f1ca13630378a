"""kill -9 of a real ``olist ingest`` in the middle of a COPY leaves no partial batch."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest

from olist_pipeline.config import Role, Settings
from olist_pipeline.ingest.loader import ingest

pytestmark = pytest.mark.integration

ROWS = 250_000


def big_payments_file(folder: Path) -> Path:
    path = folder / "olist_order_payments_dataset.csv"
    header = (
        b'"order_id","payment_sequential","payment_type","payment_installments","payment_value"\n'
    )
    with path.open("wb") as f:
        f.write(header)
        for start in range(0, ROWS, 50_000):
            f.write(
                b"".join(
                    b"%032x,1,credit_card,%d,%d.%02d\n" % (i, i % 10, i % 997, i % 100)
                    for i in range(start, start + 50_000)
                )
            )
    return path


def olist_command() -> list[str]:
    script = Path(sys.executable).with_name("olist")
    return [str(script)] if script.exists() else [sys.executable, "-m", "olist_pipeline.cli"]


def wait_for(predicate, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def test_kill_9_mid_copy_leaves_nothing_and_the_rerun_loads(
    pg_settings: Settings, tmp_path: Path
) -> None:
    big_payments_file(tmp_path)
    db = pg_settings.postgres.database
    env = {**os.environ, "OLIST_PG_DATABASE": db, "OLIST_LOG_LEVEL": "WARNING"}
    proc = subprocess.Popen(
        [*olist_command(), "ingest", "--source", str(tmp_path), "--tables", "order_payments"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    with psycopg.connect(pg_settings.postgres.dsn(Role.ADMIN), autocommit=True) as conn:
        try:

            def copying() -> bool:
                row = conn.execute(
                    "SELECT tuples_processed FROM pg_stat_progress_copy WHERE datname = %s",
                    (db,),
                ).fetchone()
                return row is not None and row[0] > 20_000

            wait_for(copying, 120, "the COPY to be under way")
        finally:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(30)
        assert proc.returncode == -signal.SIGKILL

        def loader_gone() -> bool:
            row = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = %s"
                " AND application_name = 'olist-loader'",
                (db,),
            ).fetchone()
            return row == (0,)

        wait_for(loader_gone, 60, "the killed loader's backend to end")

        assert conn.execute(
            "SELECT count(*) FROM pg_inherits WHERE inhparent = 'raw.order_payments'::regclass"
        ).fetchone() == (0,)
        assert conn.execute("SELECT count(*) FROM raw.order_payments").fetchone() == (0,)
        assert conn.execute("SELECT count(*) FROM audit.batches").fetchone() == (0,)
        assert conn.execute("SELECT count(*) FROM audit.quarantine").fetchone() == (0,)
        # no half-built table or sequence left in raw: only the nine parents
        leftovers = conn.execute(
            "SELECT relname FROM pg_class WHERE relnamespace = 'raw'::regnamespace"
            " AND relkind NOT IN ('p', 'i', 'I', 't')"
        ).fetchall()
        assert leftovers == []

    result = ingest(pg_settings, tmp_path, ["order_payments"], run_id="after-kill")
    (f,) = result.files
    assert (f.status, f.load_path, f.loaded_rows, f.quarantined_rows) == (
        "loaded",
        "copy",
        ROWS,
        0,
    )
