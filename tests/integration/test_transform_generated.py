"""Acceptance of the transform on generated data (scale 0.01, every quirk on),
ingested by `olist ingest`, against the real PostgreSQL and real Spark; then
the same job run again through `spark-submit` (as a SparkApplication would),
which must change no row, and a failing job that must exit non-zero."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from olist_pipeline.config import Role, Settings
from olist_pipeline.db import connect
from olist_pipeline.transform.jobs import run_layers
from tests.conftest import cloned_database
from tests.integration.test_transform_fixture import LAYERS, TABLES

# The module builds every layer once (a few minutes on a busy 2-core machine).
pytestmark = [pytest.mark.integration, pytest.mark.timeout(2400)]

ROOT = Path(__file__).resolve().parents[2]
RUN = "gen-run-1"
FACT_KEYS = {
    "fact_order_items": {
        "customer_key": "dim_customer",
        "product_key": "dim_product",
        "seller_key": "dim_seller",
        "purchase_date_key": "dim_date",
        "shipping_limit_date_key": "dim_date",
    },
    "fact_payments": {"customer_key": "dim_customer", "purchase_date_key": "dim_date"},
    "fact_reviews": {
        "customer_key": "dim_customer",
        "purchase_date_key": "dim_date",
        "creation_date_key": "dim_date",
        "answer_date_key": "dim_date",
    },
    "fact_orders": {
        "customer_key": "dim_customer",
        "purchase_date_key": "dim_date",
        "approved_date_key": "dim_date",
        "carrier_date_key": "dim_date",
        "delivered_date_key": "dim_date",
        "estimated_date_key": "dim_date",
    },
}
DIM_KEY = {
    "dim_customer": "customer_key",
    "dim_product": "product_key",
    "dim_seller": "seller_key",
    "dim_date": "date_key",
    "dim_geolocation": "geolocation_key",
}
GRAIN = {
    "fact_order_items": "order_id, order_item_id",
    "fact_payments": "order_id, payment_sequential",
    "fact_reviews": "review_id, order_id",
    "fact_orders": "order_id",
}


@pytest.fixture(scope="module")
def built(
    template_database: str, base_settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Settings]:
    from olist_pipeline.data.generator import generate
    from olist_pipeline.ingest.loader import ingest

    with cloned_database(base_settings, template_database, "olist_tg_") as settings:
        data = tmp_path_factory.mktemp("olist-data")
        generate(data, scale=0.01, seed=7)
        result = ingest(settings, data, run_id=RUN)
        assert all(f.status == "loaded" for f in result.files), result.files
        run_layers(settings, LAYERS, RUN)
        yield settings


def q(settings: Settings, query: str, *params: Any) -> list[tuple[Any, ...]]:
    with connect(settings, Role.ADMIN) as conn:
        return conn.execute(query, params).fetchall()


def one(settings: Settings, query: str, *params: Any) -> Any:
    rows = q(settings, query, *params)
    assert len(rows) == 1, rows
    return rows[0][0] if len(rows[0]) == 1 else rows[0]


def test_fact_grain_is_unique(built: Settings) -> None:
    for fact, grain in GRAIN.items():
        total, distinct = one(
            built, f"SELECT count(*), count(DISTINCT ({grain})) FROM warehouse.{fact}"
        )
        assert total > 0 and total == distinct, fact


def test_every_fact_row_joins_its_dimensions(built: Settings) -> None:
    for fact, keys in FACT_KEYS.items():
        for col, dim in keys.items():
            orphans = one(
                built,
                f"SELECT count(*) FROM warehouse.{fact} f LEFT JOIN warehouse.{dim} d"
                f" ON d.{DIM_KEY[dim]} = f.{col} WHERE d.{DIM_KEY[dim]} IS NULL",
            )
            assert orphans == 0, (fact, col)
    for dim in ("dim_customer", "dim_seller"):
        orphans = one(
            built,
            f"SELECT count(*) FROM warehouse.{dim} x LEFT JOIN warehouse.dim_geolocation g"
            " USING (geolocation_key) WHERE g.geolocation_key IS NULL",
        )
        assert orphans == 0, dim
    # The quirky data does use the unknown members.
    assert one(built, "SELECT count(*) FROM warehouse.dim_customer WHERE geolocation_key = -1") > 0


def test_scd2_validity(built: Settings) -> None:
    overlaps = one(
        built,
        "SELECT count(*) FROM warehouse.dim_customer a JOIN warehouse.dim_customer b"
        " ON a.customer_unique_id = b.customer_unique_id AND a.customer_key < b.customer_key"
        " AND a.valid_from < b.valid_to AND b.valid_from < a.valid_to",
    )
    assert overlaps == 0
    bad_current = one(
        built,
        "SELECT count(*) FROM (SELECT customer_unique_id FROM warehouse.dim_customer"
        " GROUP BY 1 HAVING count(*) FILTER (WHERE is_current) <> 1) x",
    )
    assert bad_current == 0
    assert (
        one(built, "SELECT count(*) FROM warehouse.dim_customer WHERE valid_from >= valid_to") == 0
    )
    # Contiguous: each version ends where the next starts.
    gaps = one(
        built,
        "SELECT count(*) FROM (SELECT valid_to, lead(valid_from) OVER"
        " (PARTITION BY customer_unique_id ORDER BY version) AS nxt FROM warehouse.dim_customer) x"
        " WHERE nxt IS NOT NULL AND nxt <> valid_to",
    )
    assert gaps == 0


def _stat(settings: Settings, layer: str, table: str, metric: str) -> Decimal:
    return Decimal(
        one(
            settings,
            "SELECT value FROM audit.transform_stats WHERE run_id = %s AND layer = %s"
            " AND table_name = %s AND metric = %s",
            RUN,
            layer,
            table,
            metric,
        )
    )


MONEY_RE = r"^\s*-?[0-9]+(\.[0-9]+)?\s*$"


def test_money_reconciles_to_the_cent(built: Settings) -> None:
    s = built
    for table, col, fact in (
        ("order_payments", "payment_value", "fact_payments"),
        ("order_items", "price", "fact_order_items"),
        ("order_items", "freight_value", "fact_order_items"),
    ):
        raw = one(
            s,
            f"SELECT coalesce(sum(round(trim({col})::numeric, 2)), 0) FROM raw.{table}"
            f" WHERE {col} ~ %s",
            MONEY_RE,
        )
        staged = one(s, f"SELECT coalesce(sum({col}), 0) FROM staging.{table}")
        dropped = _stat(s, "staging", table, f"dropped_sum_{col}")
        assert raw == staged + dropped, (table, col)
        assert _stat(s, "staging", table, f"raw_sum_{col}") == raw
        assert one(s, f"SELECT coalesce(sum({col}), 0) FROM warehouse.{fact}") == staged
    items = one(s, "SELECT sum(price + freight_value) FROM warehouse.fact_order_items")
    excluded = _stat(s, "marts", "sales_daily", "excluded_gmv")
    assert one(s, "SELECT sum(gmv) FROM marts.sales_daily") + excluded == items
    assert one(s, "SELECT sum(gmv) FROM marts.sales_monthly") + excluded == items
    assert one(s, "SELECT sum(items_value + freight_value) FROM warehouse.fact_orders") == one(
        s,
        "SELECT sum(price + freight_value) FROM warehouse.fact_order_items i"
        " WHERE EXISTS (SELECT 1 FROM warehouse.fact_orders o WHERE o.order_id = i.order_id)",
    )
    # Row accounting raw -> staging for every table.
    for t in TABLES["staging"]:
        raw_rows = one(s, f"SELECT count(*) FROM raw.{t}")
        kept = one(s, f"SELECT count(*) FROM staging.{t}")
        dups = _stat(s, "staging", t, "duplicates_removed")
        rejected = _stat(s, "staging", t, "rejected_null_key")
        assert raw_rows == kept + dups + rejected, t


def test_quirks_are_handled(built: Settings) -> None:
    s = built
    assert (
        one(
            s,
            "SELECT count(*) FROM staging.customers WHERE customer_zip_code_prefix !~ '^[0-9]{5}$'",
        )
        == 0
    )
    assert one(s, "SELECT count(*) FROM staging.sellers WHERE seller_city ~ '[^a-z0-9 ''.-]'") == 0
    assert _stat(s, "staging", "geolocation", "duplicates_removed") > 0
    assert (
        one(
            s,
            "SELECT count(*) FROM warehouse.dim_geolocation WHERE latitude > 5.28"
            " OR longitude > -28.8 OR latitude < -33.76 OR longitude < -74.0",
        )
        == 0
    )
    assert one(s, "SELECT count(*) FROM staging.orders WHERE has_lifecycle_anomaly") > 0
    assert (
        one(
            s,
            "SELECT count(*) FROM warehouse.dim_product WHERE NOT category_translated"
            " AND category_name IS NOT NULL",
        )
        > 0
    )
    segments = {r[0] for r in q(s, "SELECT DISTINCT segment FROM marts.customer_rfm")}
    assert len(segments) >= 3
    assert one(s, "SELECT count(*) FROM marts.copurchase_pairs WHERE lift <= 0") == 0


def _checksums(settings: Settings, layers: tuple[str, ...]) -> dict[str, Any]:
    return {
        f"{layer}.{t}": one(
            settings,
            f"SELECT count(*), coalesce(md5(string_agg(x::text, '|' ORDER BY x::text)), '')"
            f" FROM {layer}.{t} x",
        )
        for layer in layers
        for t in TABLES[layer]
    }


def _spark_submit(
    settings: Settings, app: str, run_id: str, *args: str, **env: str
) -> subprocess.CompletedProcess[str]:
    from olist_pipeline.stack import jars

    venv_bin = Path(sys.executable).parent
    full_env = {
        **{k: v for k, v in os.environ.items() if k != "SPARK_CONNECT_MODE_ENABLED"},
        "OLIST_PG_DATABASE": settings.postgres.database,
        # The driver is its own session, as a SparkApplication's is on the cluster.
        "OLIST_SPARK_CONNECT": "false",
        "PYSPARK_PYTHON": sys.executable,
        "PYSPARK_DRIVER_PYTHON": sys.executable,
        **env,
    }
    return subprocess.run(
        [
            str(venv_bin / "spark-submit"),
            "--master",
            "local[2]",
            "--conf",
            "spark.ui.enabled=false",
            "--jars",
            str(jars.jdbc_jar(settings)),
            str(ROOT / "spark-apps" / f"{app}.py"),
            "--run-id",
            run_id,
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=600,
        env=full_env,
        cwd=ROOT,
        check=False,
    )


def test_spark_submit_rerun_changes_no_row(built: Settings) -> None:
    before = _checksums(built, ("warehouse", "marts"))
    # A full refresh: nothing is pending, so a plain run would not start Spark at all.
    done = _spark_submit(built, "marts", RUN, "--full-refresh")
    assert done.returncode == 0, done.stderr[-3000:]
    assert _checksums(built, ("warehouse", "marts")) == before
    assert one(
        built,
        "SELECT status, attempt FROM audit.step_runs WHERE run_id = %s"
        " AND step = 'transform.marts'",
        RUN,
    ) == ("succeeded", 2)


def test_spark_submit_failure_exits_non_zero(built: Settings) -> None:
    """A Spark-side error (the transformer may not read raw) must fail the driver."""
    before = _checksums(built, ("staging",))
    with connect(built, Role.ADMIN, autocommit=True) as conn:
        conn.execute("REVOKE SELECT ON raw.orders FROM olist_transformer")
    try:
        failed = _spark_submit(built, "staging", "gen-run-broken", "--full-refresh")
    finally:
        with connect(built, Role.ADMIN, autocommit=True) as conn:
            conn.execute("GRANT SELECT ON raw.orders TO olist_transformer")
    assert failed.returncode != 0
    # spark-submit's Python runner merges the driver's stderr into its stdout.
    assert "permission denied" in (failed.stdout + failed.stderr).lower()
    assert (
        one(built, "SELECT status FROM audit.step_runs WHERE run_id = 'gen-run-broken'") == "failed"
    )
    # Nothing was published, and no run table was left behind.
    assert _checksums(built, ("staging",)) == before
    assert one(built, "SELECT count(*) FROM pg_tables WHERE tablename LIKE %s", "%\\_\\_r\\_%") == 0
