"""Real Spark (local mode, Java 17) reads the migrated PostgreSQL through JDBC."""

from __future__ import annotations

import pytest

from olist_pipeline.config import Role, Settings
from olist_pipeline.db import connect
from olist_pipeline.transform.spark import jdbc_options, spark_session

pytestmark = pytest.mark.integration


def test_spark_reads_postgres_through_jdbc(pg_settings: Settings) -> None:
    with connect(pg_settings, Role.TRANSFORMER) as conn:
        conn.execute("CREATE TABLE staging.spark_probe (run_id text, rows_out integer)")
        for i in range(10):
            conn.execute("INSERT INTO staging.spark_probe VALUES (%s, %s)", (f"r{i}", i))
    spark = spark_session(pg_settings, "jdbc-probe")
    df = (
        spark.read.format("jdbc")
        .options(**jdbc_options(pg_settings, Role.TRANSFORMER))
        .option("dbtable", "staging.spark_probe")
        .option("partitionColumn", "rows_out")
        .option("lowerBound", "0")
        .option("upperBound", "10")
        .option("numPartitions", "2")
        .load()
    )
    assert df.rdd.getNumPartitions() == 2
    assert df.agg({"rows_out": "sum"}).collect()[0][0] == sum(range(10))
