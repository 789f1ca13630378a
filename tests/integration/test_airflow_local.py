"""The local target's orchestration for real: olist_batch end to end, retries, callbacks.

Runs DAGs with ``dag.test()`` in a child process (``olist_pipeline.airflow.
local_run``) against the real local stack, a SQLite metadata database in a
temporary AIRFLOW_HOME and a real Pushgateway on a free port.
"""

from __future__ import annotations

import os
import tempfile
import textwrap
from pathlib import Path

import pytest

from olist_pipeline.airflow.definition import BATCH
from olist_pipeline.config import Role, Settings
from olist_pipeline.contracts.sources import TABLES
from tests.airflow_support import RUN_TIMEOUT_S, BatchRun, Pushgateway

pytestmark = pytest.mark.integration

# The runner test imports Airflow in this process: keep its files out of ~/airflow.
os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="olist-airflow-it-"))


def _scalar(settings: Settings, query: str, *params: object) -> object:
    import psycopg

    with psycopg.connect(settings.postgres.dsn(Role.ADMIN)) as c:
        row = c.execute(query, params).fetchone()
    assert row is not None
    return row[0]


@pytest.mark.timeout(RUN_TIMEOUT_S)
def test_olist_batch_runs_end_to_end_and_fills_warehouse_and_marts(batch_run: BatchRun):
    result = batch_run.result
    states = {t.task_id: t.state for t in result.tasks}
    assert result.ok, f"olist_batch {result.state}: {states}; log {result.log_file}"
    # Every step succeeded, so the failure-path publisher was skipped.
    assert states == {
        s.task_id: "skipped" if s.trigger_rule == "one_failed" else "success" for s in BATCH.steps
    }
    assert all(t.duration_s is not None and t.duration_s >= 0 for t in result.tasks)

    s, rid = batch_run.settings, result.run_id
    for table in TABLES:
        assert _scalar(s, f"SELECT count(*) FROM raw.{table}") > 0, table
    for table in ("fact_order_items", "fact_orders", "fact_payments", "dim_customer"):
        assert _scalar(s, f"SELECT count(*) FROM warehouse.{table}") > 0, table
    for table in ("sales_daily", "customer_rfm", "seller_scorecard"):
        assert _scalar(s, f"SELECT count(*) FROM marts.{table}") > 0, table

    # Every gate ran for this run id (the commands got --run-id) and passed.
    layers = _scalar(
        s,
        "SELECT array_agg(DISTINCT layer ORDER BY layer) FROM audit.dq_results WHERE run_id = %s",
        rid,
    )
    assert layers == ["marts", "raw", "staging", "warehouse"]
    failed = _scalar(
        s,
        "SELECT count(*) FROM audit.dq_results WHERE run_id = %s AND severity = 'error' "
        "AND NOT passed",
        rid,
    )
    assert failed == 0

    # The DAG's success callback and publish_metrics pushed to the Pushgateway.
    gw = batch_run.pushgateway
    assert gw.value("olist_airflow_dag_last_success_timestamp_seconds", dag_id="olist_batch")
    assert "olist_dq_" in gw.metrics() or "olist_batch_" in gw.metrics()


RETRY_DAG = textwrap.dedent(
    '''
    """Airflow DAG used by the tests: one task that always fails (exit 1)."""
    from datetime import timedelta

    from olist_pipeline.airflow.dags import build_dag
    from olist_pipeline.airflow.definition import Kind, Pipeline, RetryPolicy, Step

    fast = RetryPolicy(retries=2, delay=timedelta(seconds=1), max_delay=timedelta(seconds=2))
    dag = build_dag(
        Pipeline(
            dag_id="olist_test_retry",
            description="forced failure",
            doc_md="### olist_test_retry",
            schedule=None,
            tags=("test",),
            steps=(
                Step("first", Kind.COMMAND, "succeeds", argv=("--version",), retry=fast),
                # The database is unreachable in this run: exit 1, a retryable failure.
                Step("broken", Kind.COMMAND, "fails", argv=("db", "migrate"),
                     upstream=("first",), retry=fast),
                Step("after", Kind.COMMAND, "never runs", argv=("--version",),
                     upstream=("broken",), retry=fast),
            ),
        )
    )
    '''
)


def test_forced_failure_is_retried_with_backoff_then_the_failure_callback_counts_it(
    base_settings: Settings, tmp_path: Path
):
    from dataclasses import replace

    from olist_pipeline.airflow.callbacks import count_task_failure
    from olist_pipeline.airflow.local_run import run_dag

    dags = tmp_path / "dags"
    dags.mkdir()
    (dags / "olist_test_retry.py").write_text(RETRY_DAG)
    gw = Pushgateway(tmp_path)
    try:
        settings = replace(base_settings, pushgateway_url=gw.url)
        result = run_dag(
            settings,
            "olist_test_retry",
            "retry-1",
            airflow_home=tmp_path / "airflow",
            dags_folder=dags,
            extra_env={"OLIST_PG_PORT": "1"},  # nothing listens on port 1
        )
        counted = gw.value(
            "olist_airflow_task_failures_total", dag_id="olist_test_retry", task_id="broken"
        )
        # The counter is read back and pushed incremented: it survives task processes.
        again = count_task_failure("olist_test_retry", "broken", gw.url)
    finally:
        gw.stop()

    tasks = {t.task_id: t for t in result.tasks}
    assert result.state == "failed"
    assert tasks["first"].state == "success"
    assert tasks["broken"].state == "failed"
    assert tasks["broken"].try_number == 3  # one try + retries=2
    assert tasks["after"].state == "upstream_failed"

    log = Path(result.log_file).read_text()
    assert log.count("airflow_task_retry") == 2
    assert log.count("airflow_task_failed") == 1
    assert "`olist db migrate` exited with 1" in log
    assert "airflow_task_failure_counted" in log
    assert "airflow_dag_failed" in log
    assert counted == 1.0
    assert again == 2.0


def test_runner_maps_exit_codes_to_retry_or_fail_now(monkeypatch: pytest.MonkeyPatch):
    from airflow.sdk.exceptions import AirflowException, AirflowFailException

    from olist_pipeline.airflow.tasks import run_olist

    assert run_olist(["--version"]) == 0
    with pytest.raises(AirflowFailException, match="exited with 2"):
        run_olist(["dq", "run", "--layer", "nope"])  # usage error: never retried
    monkeypatch.setenv("OLIST_PG_PORT", "1")
    with pytest.raises(AirflowException, match="exited with 1") as caught:
        run_olist(["db", "migrate"])
    assert not isinstance(caught.value, AirflowFailException)  # retryable
    assert os.environ["OLIST_PG_PORT"] == "1"
