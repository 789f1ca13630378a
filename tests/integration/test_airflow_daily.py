"""Daily runs of olist_batch for real: one data interval per run, a re-run changes nothing.

Two consecutive day folders of a split scale-0.01 data set run through the local
DAG runner (``dag.test()`` with the day's data interval, real PostgreSQL,
Spark and DQ), then the first day again, then a day without a folder.
"""

from __future__ import annotations

import subprocess
import sys
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from olist_pipeline.airflow.definition import BATCH
from olist_pipeline.config import Role, Settings
from olist_pipeline.contracts.sources import TABLES
from olist_pipeline.data.split import split_days
from tests.airflow_support import RUN_TIMEOUT_S
from tests.conftest import cloned_database

pytestmark = pytest.mark.integration

START = "2017-03-01"
# Everything the batch writes downstream of raw, compared whole before and after a re-run.
LAYERS = ("staging", "warehouse", "marts")


def _rows(settings: Settings, query: str, *params: object) -> list[tuple[Any, ...]]:
    import psycopg

    with psycopg.connect(settings.postgres.dsn(Role.ADMIN)) as c:
        return c.execute(query, params).fetchall()


def _fingerprint(settings: Settings) -> dict[str, tuple[int, str]]:
    """(rows, md5 of the sorted rows) of every staging, warehouse and marts table."""
    tables = _rows(
        settings,
        "SELECT table_schema, table_name FROM information_schema.tables"
        " WHERE table_schema = ANY(%s) AND table_type = 'BASE TABLE' ORDER BY 1, 2",
        list(LAYERS),
    )
    out = {}
    for schema, table in tables:
        ((n, digest),) = _rows(
            settings,
            f"SELECT count(*), md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), ''))"
            f' FROM "{schema}"."{table}" AS t',
        )
        out[f"{schema}.{table}"] = (n, digest)
    return out


def _batches(settings: Settings) -> list[tuple[Any, ...]]:
    return _rows(
        settings,
        "SELECT table_name, batch_id, status, sha256, run_id, data_interval_start,"
        " data_interval_end, finished_at FROM audit.batches ORDER BY 1, 2",
    )


@pytest.fixture(scope="module")
def landing(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("daily") / "landing"
    olist = str(Path(sys.executable).with_name("olist"))
    # History up to START as the initial load (the gates expect delivered orders with
    # reviews), daily folders after it.
    cmd = [olist, "data", "generate", "--scale", "0.01", "--seed", "7", "--split", "daily"]
    cmd += ["--start", START]
    subprocess.run([*cmd, "--out", str(out)], check=True, capture_output=True)
    return out


@pytest.mark.timeout(3 * RUN_TIMEOUT_S)  # three real DAG runs with Spark
def test_two_days_then_a_rerun_of_the_first_then_a_day_without_data(
    landing: Path, template_database: str, base_settings: Settings, tmp_path: Path
) -> None:
    from olist_pipeline.airflow.local_run import run_batch_dag

    day1, day2 = (date.fromisoformat(p.name) for p in split_days(landing)[:2])
    assert day1.isoformat() == START and day2 > day1
    with cloned_database(base_settings, template_database, "olist_daily_") as settings:
        home = tmp_path / "airflow"

        def run(day: date, tag: str) -> Any:
            result = run_batch_dag(
                settings, f"daily-{tag}-{uuid.uuid4().hex[:6]}", day=day,
                landing_dir=landing, airflow_home=home,
            )  # fmt: skip
            states = {t.task_id: t.state for t in result.tasks}
            assert result.ok, f"{day}: olist_batch {result.state}: {states}; {result.log_file}"
            return states

        # Day 1, then day 2: each run loads its own day as batches named by the day.
        for day in (day1, day2):
            states = run(day, "first")
            assert states == {
                s.task_id: "skipped" if s.trigger_rule == "one_failed" else "success"
                for s in BATCH.steps
            }
        batches = _batches(settings)
        assert {(b[0], b[1]) for b in batches} == {
            (t, d.isoformat()) for t in TABLES for d in (day1, day2)
        }
        for table, batch_id, status, *_, start, end, _ in batches:
            day = date.fromisoformat(batch_id)
            assert status == "succeeded", (table, batch_id)
            assert start == datetime(day.year, day.month, day.day, tzinfo=UTC)
            assert end == start + timedelta(days=1)
        per_day = dict(
            _rows(settings, "SELECT _batch_id, count(*) FROM raw.orders GROUP BY 1")  # type: ignore[arg-type]
        )
        # Raw holds each day's file as it is (header-only days add no row).
        expected = {
            d.isoformat(): _records(landing / d.isoformat() / "olist_orders_dataset.csv")
            for d in (day1, day2)
        }
        assert per_day == {k: v for k, v in expected.items() if v}
        before = _fingerprint(settings)
        assert before["warehouse.fact_orders"][0] > 0

        # Day 1 again: its bytes are loaded already, so nothing changes anywhere.
        run(day1, "again")
        assert _batches(settings) == batches
        assert _fingerprint(settings) == before

        # A day without a folder: every task skipped, the run still succeeds.
        empty = day1 - timedelta(days=1)
        assert not (landing / empty.isoformat()).exists()
        states = run(empty, "empty")
        assert set(states.values()) == {"skipped"}, states
        assert _batches(settings) == batches


def _records(path: Path) -> int:
    from olist_pipeline.contracts.sources import contract_for
    from olist_pipeline.data.reader import read_rows

    return sum(1 for _ in read_rows(path, contract_for("orders")))
