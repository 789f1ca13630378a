"""The batch step's progress: read from the run's Airflow metadata DB, shown per terminal kind."""

from __future__ import annotations

import io
import sqlite3
from pathlib import Path

from rich.console import Console

from olist_pipeline.airflow.local_run import DagProgress, last_run_row, read_progress
from olist_pipeline.run.steps import StepTracker


def _db(path: Path, runs: list[tuple[int, str, str]], tis: list[tuple[str, str, str, str]]) -> None:
    with sqlite3.connect(path) as c:
        c.execute("CREATE TABLE dag_run (id INTEGER PRIMARY KEY, dag_id TEXT, run_id TEXT)")
        c.execute("CREATE TABLE task_instance (dag_id TEXT, run_id TEXT, task_id TEXT, state TEXT)")
        c.executemany("INSERT INTO dag_run VALUES (?, ?, ?)", runs)
        c.executemany("INSERT INTO task_instance VALUES (?, ?, ?, ?)", tis)


def test_progress_of_the_newest_run_only(tmp_path: Path) -> None:
    db = tmp_path / "airflow.db"
    old = [("olist_batch", "r1", t, "success") for t in ("a", "b", "c")]
    new = [
        ("olist_batch", "r2", "a", "success"),
        ("olist_batch", "r2", "b", "skipped"),
        ("olist_batch", "r2", "staging", "running"),
        ("olist_batch", "r2", "marts", None),
    ]
    _db(db, [(1, "olist_batch", "r1"), (2, "olist_batch", "r2")], old + new)
    assert last_run_row(db) == 2
    assert read_progress(db, "olist_batch", 1) == (2, 4, ("staging",))
    # Nothing newer than the row seen before the run started: no progress yet.
    assert read_progress(db, "olist_batch", 2) == (0, 0, ())


def test_no_database_yet_is_no_progress(tmp_path: Path) -> None:
    db = tmp_path / "missing.db"
    assert last_run_row(db) == 0
    assert read_progress(db, "olist_batch", 0) == (0, 0, ())


def test_piped_output_prints_a_line_per_change() -> None:
    out = io.StringIO()
    console = Console(file=out, force_terminal=False, width=120)
    tracker = StepTracker(console)
    with tracker.step("Batch") as step:
        seen = ((1, ("dq_raw",), 3), (1, ("dq_raw",), 4), (2, ("staging",), 5))
        for done, running, elapsed in seen:
            p = DagProgress(done, 17, running, elapsed)
            step.status(p.line(), key=(p.done, p.running))
    lines = out.getvalue().splitlines()
    assert lines[:2] == ["  Batch: dq_raw (1/17 done, 3s)", "  Batch: staging (2/17 done, 5s)"]
    assert lines[2].startswith("v Batch")
