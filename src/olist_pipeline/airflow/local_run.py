"""Run a DAG of the local target end to end with ``dag.test()`` (what ``make run`` uses).

``run_batch_dag(settings, run_id, data_dir)`` (a one-off full folder) or
``run_batch_dag(settings, run_id, day=D)`` (the daily increment of day D) runs
``olist_batch`` through
the real orchestration (dependencies, retries, callbacks, operators) against
a SQLite metadata database under ``<state_dir>/airflow`` (git-ignored). The
DAG runs in a child Python process: Airflow reads ``AIRFLOW_HOME`` and its
configuration once at import and takes over logging, so a fresh process
keeps both away from the caller; the child reports per-task states and
durations as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from olist_pipeline.config import Settings
from olist_pipeline.errors import OlistError
from olist_pipeline.logs import get_logger

log = get_logger("olist.airflow.local_run")


class DagRunFailed(OlistError):
    """The DAG run finished in a state other than success."""


@dataclass(frozen=True)
class TaskResult:
    task_id: str
    state: str | None
    try_number: int
    duration_s: float | None
    start: str | None = None
    end: str | None = None


@dataclass(frozen=True)
class DagRunResult:
    dag_id: str
    run_id: str  # the pipeline's run id (what every command got as --run-id)
    airflow_run_id: str
    state: str
    duration_s: float
    tasks: tuple[TaskResult, ...]
    airflow_home: str
    log_file: str

    @property
    def ok(self) -> bool:
        return self.state == "success"

    def task(self, task_id: str) -> TaskResult:
        return next(t for t in self.tasks if t.task_id == task_id)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class DagProgress:
    """Where a running DAG run is: tasks done (any final state) of all, and what runs."""

    done: int
    total: int
    running: tuple[str, ...]
    elapsed_s: float

    def line(self) -> str:
        what = ", ".join(self.running) if self.running else "scheduling"
        return f"{what} ({self.done}/{self.total} done, {self.elapsed_s:.0f}s)"


FINAL_STATES = ("success", "failed", "skipped", "upstream_failed", "removed")


def last_run_row(db: Path) -> int:
    """The highest dag_run row id so far (0 without a database yet)."""
    import sqlite3

    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1) as conn:
            row = conn.execute("SELECT max(id) FROM dag_run").fetchone()
    except sqlite3.Error:
        return 0
    return int(row[0] or 0) if row else 0


def read_progress(db: Path, dag_id: str, after_row: int) -> tuple[int, int, tuple[str, ...]]:
    """(done, total, running task ids) of the newest run of ``dag_id`` created after ``after_row``.

    Read from the run's own metadata database (SQLite), read-only; an empty
    answer while the run is being created.
    """
    import sqlite3

    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1) as conn:
            row = conn.execute(
                "SELECT run_id FROM dag_run WHERE dag_id = ? AND id > ? ORDER BY id DESC LIMIT 1",
                (dag_id, after_row),
            ).fetchone()
            if row is None:
                return 0, 0, ()
            tis = conn.execute(
                "SELECT task_id, state FROM task_instance WHERE dag_id = ? AND run_id = ?",
                (dag_id, row[0]),
            ).fetchall()
    except sqlite3.Error:  # locked or not created yet: the next poll will tell
        return 0, 0, ()
    done = sum(1 for _, st in tis if st in FINAL_STATES)
    running = tuple(sorted(t for t, st in tis if st == "running"))
    return done, len(tis), running


def _watch(
    db: Path,
    dag_id: str,
    *,
    after_row: int,
    t0: float,
    on_progress: Callable[[DagProgress], None],
    stop: threading.Event,
) -> None:
    last: tuple[int, int, tuple[str, ...]] | None = None
    while not stop.wait(1.0):
        now = read_progress(db, dag_id, after_row)
        if now[1] and now != last:
            last = now
        if last is not None:
            on_progress(DagProgress(last[0], last[1], last[2], time.monotonic() - t0))


def default_airflow_home(settings: Settings) -> Path:
    return settings.local.state_dir / "airflow"


def default_dags_folder() -> Path:
    from olist_pipeline.airflow.dags import project_root

    return project_root() / "airflow" / "dags"


def airflow_env(airflow_home: Path, dags_folder: Path) -> dict[str, str]:
    """Airflow configuration for the local target, all through the environment."""
    return {
        "AIRFLOW_HOME": str(airflow_home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags_folder),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{airflow_home / 'airflow.db'}",
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(airflow_home / "logs"),
        "AIRFLOW__CORE__ALLOWED_DESERIALIZATION_CLASSES_REGEXP": r"(airflow|olist_pipeline)\..*",
        # spark-submit with master local[2] (the SparkSubmitOperator's connection).
        "AIRFLOW_CONN_OLIST_SPARK_LOCAL": json.dumps({"conn_type": "spark", "host": "local[2]"}),
        "OLIST_ENV": "local",
    }


def run_dag(
    settings: Settings,
    dag_id: str,
    run_id: str,
    conf: dict[str, Any] | None = None,
    *,
    airflow_home: Path | None = None,
    dags_folder: Path | None = None,
    echo: bool = False,
    timeout_s: float = 3600,
    extra_env: dict[str, str] | None = None,
    logical_date: datetime | None = None,
    on_progress: Callable[[DagProgress], None] | None = None,
) -> DagRunResult:
    """Run ``dag_id`` once with ``dag.test()`` in a child process; never raises on a failed run.

    ``logical_date`` (default: now) decides the run's data interval: the last
    complete interval before it, as for a manually triggered run.
    ``on_progress`` is called about once a second while the run goes on.
    """
    home = (airflow_home or default_airflow_home(settings)).resolve()
    dags = (dags_folder or default_dags_folder()).resolve()
    home.mkdir(parents=True, exist_ok=True)
    (home / "logs").mkdir(exist_ok=True)
    env = {**os.environ, **settings.to_env(), **airflow_env(home, dags), **(extra_env or {})}
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in run_id)
    log_file = home / "logs" / f"{dag_id}-{safe}.log"
    with tempfile.NamedTemporaryFile("r", suffix=".json", dir=home, delete=False) as tmp:
        result_path = Path(tmp.name)
    cmd = [
        sys.executable, "-m", "olist_pipeline.airflow.local_run",
        "--dag-id", dag_id, "--run-id", run_id, "--result", str(result_path),
        "--conf", json.dumps({"run_id": run_id, **(conf or {})}),
    ]  # fmt: skip
    if logical_date is not None:
        cmd += ["--logical-date", logical_date.isoformat()]
    log.info("dag_run_started", dag_id=dag_id, run_id=run_id, airflow_home=str(home))
    t0 = time.monotonic()
    proc: subprocess.Popen[str] | None = None
    stop = threading.Event()
    if on_progress is not None:
        db = home / "airflow.db"
        threading.Thread(
            target=_watch,
            args=(db, dag_id),
            kwargs={
                "after_row": last_run_row(db),
                "t0": t0,
                "on_progress": on_progress,
                "stop": stop,
            },
            name="dag-progress",
            daemon=True,
        ).start()
    try:
        with log_file.open("w", encoding="utf-8") as out:
            # Own session: if the caller is interrupted, the run and its Spark JVMs
            # are ended together instead of hanging on a full output pipe.
            proc = subprocess.Popen(
                cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                start_new_session=True,
            )  # fmt: skip
            assert proc.stdout is not None
            for line in proc.stdout:
                out.write(line)
                if echo:
                    sys.stderr.write(line)
            code = proc.wait(timeout=timeout_s)
        text = result_path.read_text("utf-8") if result_path.exists() else ""
    except BaseException:
        if proc is not None and proc.poll() is None:
            _end(proc)
        raise
    finally:
        stop.set()
        result_path.unlink(missing_ok=True)
    if code != 0 or not text:
        raise DagRunFailed(
            f"the Airflow run of {dag_id} could not complete (exit {code}); see {log_file}"
        )
    data = json.loads(text)
    result = DagRunResult(
        dag_id=dag_id,
        run_id=run_id,
        airflow_run_id=data["airflow_run_id"],
        state=data["state"],
        duration_s=round(time.monotonic() - t0, 1),
        tasks=tuple(TaskResult(**t) for t in data["tasks"]),
        airflow_home=str(home),
        log_file=str(log_file),
    )
    log.info("dag_run_finished", dag_id=dag_id, run_id=run_id, state=result.state,
             duration_s=result.duration_s)  # fmt: skip
    return result


def _end(proc: subprocess.Popen[str]) -> None:
    import signal

    for sig, wait_s in ((signal.SIGTERM, 15), (signal.SIGKILL, 5)):
        try:
            os.killpg(proc.pid, sig)
            proc.wait(timeout=wait_s)
            return
        except (ProcessLookupError, subprocess.TimeoutExpired):
            continue


def run_batch_dag(
    settings: Settings,
    run_id: str,
    data_dir: Path | str | None = None,
    *,
    day: date | None = None,
    landing_dir: Path | None = None,
    airflow_home: Path | None = None,
    echo: bool = False,
    on_progress: Callable[[DagProgress], None] | None = None,
) -> DagRunResult:
    """Run ``olist_batch`` end to end on the local target; check ``result.ok``.

    ``data_dir``: a one-off load of that whole folder. ``day``: the run of the
    data interval [day, day + 1), ingesting ``<landing_dir>/<day>/`` (default
    landing: ``settings.landing_dir``) as a scheduled or backfilled run would.
    """
    if (data_dir is None) == (day is None):
        raise ValueError("run_batch_dag needs exactly one of data_dir and day")
    if data_dir is not None:
        return run_dag(
            settings,
            "olist_batch",
            run_id,
            {"data_dir": str(Path(data_dir).resolve())},
            airflow_home=airflow_home,
            echo=echo,
            on_progress=on_progress,
        )
    assert day is not None
    landing = (landing_dir or settings.landing_dir).resolve()
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    return run_dag(
        settings,
        "olist_batch",
        run_id,
        {"data_dir": "", "landing_dir": str(landing)},
        airflow_home=airflow_home,
        echo=echo,
        # dag.test() gives a manual run the interval that ended before its
        # logical date: the end of the day makes it exactly [day, day + 1).
        logical_date=start + timedelta(days=1),
        on_progress=on_progress,
    )


# ---- the child process ----------------------------------------------------------


def _migrate_metadata_db() -> None:
    from airflow.utils.db import upgradedb

    upgradedb()


def _child(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="olist_pipeline.airflow.local_run")
    parser.add_argument("--dag-id", required=True)
    parser.add_argument("--run-id", required=True)
    parser.add_argument("--conf", default="{}")
    parser.add_argument("--result", required=True)
    parser.add_argument("--logical-date", default=None)
    args = parser.parse_args(argv)

    _migrate_metadata_db()
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
    if args.dag_id not in bag.dags:
        print(f"DAG {args.dag_id} not found; import errors: {bag.import_errors}", flush=True)
        return 2
    dag = bag.dags[args.dag_id]
    kwargs: dict[str, Any] = {}
    if args.logical_date:
        kwargs["logical_date"] = datetime.fromisoformat(args.logical_date)
    dr = dag.test(run_conf=json.loads(args.conf), **kwargs)
    tasks = []
    for ti in sorted(dr.get_task_instances(), key=lambda t: (t.start_date is None, t.start_date)):
        start, end = ti.start_date, ti.end_date
        tasks.append(
            {
                "task_id": ti.task_id,
                "state": str(ti.state.value if hasattr(ti.state, "value") else ti.state),
                "try_number": int(ti.try_number or 0),
                "duration_s": round((end - start).total_seconds(), 2) if start and end else None,
                "start": start.isoformat() if start else None,
                "end": end.isoformat() if end else None,
            }
        )
    state = dr.state.value if hasattr(dr.state, "value") else str(dr.state)
    Path(args.result).write_text(
        json.dumps({"airflow_run_id": dr.run_id, "state": state, "tasks": tasks}), "utf-8"
    )
    return 0


if __name__ == "__main__":
    sys.exit(_child(sys.argv[1:]))
