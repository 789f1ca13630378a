"""Real Spark (the stack's Spark Connect server, Java 17) reads PostgreSQL through JDBC."""

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
    from pyspark.sql import functions as F

    # Two JDBC partitions, each read by its own task (works in Connect and in-process).
    assert df.select(F.spark_partition_id()).distinct().count() == 2
    assert df.agg({"rows_out": "sum"}).collect()[0][0] == sum(range(10))
