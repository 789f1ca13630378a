"""The Spark session every job uses, configured in one place.

Local target: a client of the local stack's Spark Connect server (or, with
OLIST_SPARK_CONNECT=false, an in-process ``local[N]`` session), both with the
PostgreSQL JDBC jar from the local stack. On the cluster the SparkApplication
sets master and resources and the jar is baked into the image (OLIST_JDBC_JAR).
"""

from __future__ import annotations

import atexit
import os
import sys
import warnings
from typing import TYPE_CHECKING, Any

from olist_pipeline.config import Role, Settings, Target
from olist_pipeline.errors import OlistError

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


# The SQL semantics of every session on every target (the SparkApplications' sparkConf
# and the local spark-submit tasks take them from here too).
SQL_CONF = {"spark.sql.session.timeZone": "UTC", "spark.sql.ansi.enabled": "true"}
# The local target never listens beyond 127.0.0.1 (the driver's RPC and block manager).
LOOPBACK_CONF = {"spark.driver.bindAddress": "127.0.0.1", "spark.driver.host": "127.0.0.1"}


def local_conf(settings: Settings) -> dict[str, str]:
    """The local target's JVM-level Spark configuration, in one place.

    Used for an in-process session and for the Spark Connect server the local
    stack starts (``stack.spark_connect``), so both run the same JVM.
    """
    from olist_pipeline.stack import jars

    return {
        "spark.master": settings.spark.master,
        "spark.driver.memory": settings.spark.driver_memory,
        "spark.jars": str(jars.jdbc_jar(settings)),
        "spark.ui.enabled": "false",
        # Measured with JFR on the scale-1 transform: C2 spent ~110 s of CPU
        # compiling Spark's and the generated code, against ~15 s for C1
        # alone, for no shorter wall time on 2 cores; C1 needs a code cache
        # larger than its default or it fills and stops compiling.
        "spark.driver.extraJavaOptions": (
            "-XX:TieredStopAtLevel=1 -XX:ReservedCodeCacheSize=256m -XX:+UseParallelGC"
        ),
        # Cached tables are small next to the driver's heap: skip the
        # per-column compression, ~8% of the executor CPU in the profile.
        "spark.sql.inMemoryColumnarStorage.compressed": "false",
        # JFR of a warehouse build on a warm Connect server (its third run): ~20% of
        # the JVM's samples still compiled generated code, because one pipeline run
        # makes more classes than the default cache of 100 keeps. Sized for every
        # layer's plans (a later marts profile still spent ~14% generating code:
        # generation runs per query, only compilation is cached).
        "spark.sql.codegen.cache.maxEntries": "2000",
        **LOOPBACK_CONF,
        **NO_PROGRESS_BARS,
    }


def session_conf(settings: Settings) -> dict[str, str]:
    """Per-session SQL settings: every session sets them, in-process or remote."""
    return {
        "spark.sql.shuffle.partitions": str(settings.spark.shuffle_partitions),
        **SQL_CONF,
    }


# The `[Stage 81:> (0 + 2) / 2]` bars would overwrite our own output. A JVM-level
# setting: a Connect server refuses it per session.
NO_PROGRESS_BARS = {"spark.ui.showConsoleProgress": "false"}


class SparkUnavailable(OlistError):
    """The Spark Connect server the settings name does not answer."""


def spark_session(settings: Settings, app_name: str, *, in_process: bool = False) -> SparkSession:
    """The session a job runs in.

    On the local target this is, by default, a client of the local stack's
    Spark Connect server: one JVM, started once and kept warm (JIT-compiled
    code, loaded classes, a JDBC driver already registered) across layers
    and runs, so a daily run does not pay a JVM start per layer.
    ``OLIST_SPARK_CONNECT=false`` (or ``in_process``, for the live job, whose
    ``foreachBatch`` keeps state in this process) builds an in-process
    session as on the cluster.
    """
    from pyspark.sql import SparkSession

    if settings.spark.remote and not in_process:
        _require_server(settings)
        # The RFM quintiles and the all-order totals are global windows on
        # purpose (one row per customer at most); the client warns on each.
        warnings.filterwarnings(
            "ignore", message="WARN WindowExpression: No Partition Defined", category=UserWarning
        )
        builder = SparkSession.builder.remote(settings.spark.remote).appName(app_name)
        for key, value in session_conf(settings).items():
            builder = builder.config(key, value)
        spark = builder.getOrCreate()
        # Registered after the client's own exit hook, so it runs first: that hook calls
        # the server, and a server already gone (a stack stopped before this process
        # exits) would hold the exit for many minutes of retries.
        if id(spark) not in _EXIT_GUARDED:  # getOrCreate hands back the same session
            _EXIT_GUARDED.add(id(spark))
            atexit.register(_close_if_unreachable, spark, settings.spark.connect_port)
        return spark

    # A parent that used a Connect session leaves this flag in the environment
    # its children inherit; with it set, PySpark builds a remote session.
    os.environ.pop("SPARK_CONNECT_MODE_ENABLED", None)
    builder = SparkSession.builder.appName(app_name)
    if settings.target is Target.LOCAL:
        # Python workers (the COPY writer) need this interpreter's packages;
        # PySpark reads the variable when the context starts.
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        for key, value in local_conf(settings).items():
            builder = builder.config(key, value)
    elif settings.spark.jdbc_jar is not None:
        builder = builder.config("spark.jars", str(settings.spark.jdbc_jar))
    for key, value in {**session_conf(settings), **NO_PROGRESS_BARS}.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    # Spark's WARN chatter (e.g. global windows for surrogate keys) drowns our JSON log.
    spark.sparkContext.setLogLevel("ERROR")
    return spark


_EXIT_GUARDED: set[int] = set()


def _close_if_unreachable(spark: SparkSession, port: int) -> None:
    from olist_pipeline.stack.service import port_open

    if not port_open(port, timeout=1):
        spark.client.close()


def _require_server(settings: Settings) -> None:
    from olist_pipeline.stack.service import port_open

    if not port_open(settings.spark.connect_port, timeout=2):
        raise SparkUnavailable(
            f"the Spark Connect server ({settings.spark.remote}) is not running. Start it "
            "with `olist stack up` (it is part of the local stack), or set "
            "OLIST_SPARK_CONNECT=false to run Spark inside this process instead."
        )


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
