"""The Spark session every job uses, configured in one place.

Local target: ``local[N]`` master with the PostgreSQL JDBC jar from the
local stack. On the cluster the SparkApplication sets master and resources
and the jar is baked into the image (OLIST_JDBC_JAR).
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any

from olist_pipeline.config import Role, Settings, Target

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


def spark_session(settings: Settings, app_name: str) -> SparkSession:
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.appName(app_name)
    if settings.target is Target.LOCAL:
        from olist_pipeline.local import jars

        # Python workers (the COPY writer) need this interpreter's packages;
        # PySpark reads the variable when the context starts.
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)

        builder = (
            builder.master(settings.spark.master)
            .config("spark.driver.memory", settings.spark.driver_memory)
            .config("spark.jars", str(jars.jdbc_jar(settings)))
            .config("spark.ui.enabled", "false")
            # Measured with JFR on the scale-1 transform: C2 spent ~110 s of
            # CPU compiling Spark's and the generated code, against ~15 s for
            # C1 alone, for no shorter wall time on 2 cores; C1 needs a code
            # cache larger than its default or it fills and stops compiling.
            .config(
                "spark.driver.extraJavaOptions",
                "-XX:TieredStopAtLevel=1 -XX:ReservedCodeCacheSize=256m -XX:+UseParallelGC",
            )
            # Cached tables are small next to the driver's heap: skip the
            # per-column compression, ~8% of the executor CPU in the profile.
            .config("spark.sql.inMemoryColumnarStorage.compressed", "false")
            .config("spark.driver.bindAddress", "127.0.0.1")
            .config("spark.driver.host", "127.0.0.1")
        )
    elif settings.spark.jdbc_jar is not None:
        builder = builder.config("spark.jars", str(settings.spark.jdbc_jar))
    spark = (
        builder.config("spark.sql.shuffle.partitions", str(settings.spark.shuffle_partitions))
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.ansi.enabled", "true")
        # The `[Stage 81:> (0 + 2) / 2]` bars would overwrite our own output.
        .config("spark.ui.showConsoleProgress", "false")
        .getOrCreate()
    )
    # Spark's WARN chatter (e.g. global windows for surrogate keys) drowns our JSON log.
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def jdbc_options(settings: Settings, role: Role) -> dict[str, Any]:
    """Connection options for ``spark.read/write.format("jdbc")`` as ``role``."""
    creds = settings.postgres.creds(role)
    return {
        "url": settings.postgres.jdbc_url(),
        "user": creds.user,
        "password": creds.password,
        "driver": "org.postgresql.Driver",
        "fetchsize": str(settings.spark.jdbc_fetch_size),
        "batchsize": str(settings.spark.jdbc_batch_size),
    }
