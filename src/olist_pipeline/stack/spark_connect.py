"""The local target's Spark: one Spark Connect server, started with the stack and kept warm.

Every ``olist transform`` (and each Spark task of the local DAG) is a thin
client of this one JVM. A JVM started per layer paid start-up, class loading
and JIT compilation each time, about half of a small run's time; the server
pays them once, and the compiled code stays for every later layer and run.

The server is PySpark's own distribution (``bin/spark-submit`` of the
installed ``pyspark`` package, whose jars include Spark Connect), run in
``local[N]`` mode with the JVM settings of an in-process session
(``transform.spark.local_conf``), gRPC on 127.0.0.1 only. Its Python workers
(the COPY writer) run this virtualenv's interpreter.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

from olist_pipeline.config import Settings
from olist_pipeline.stack import jars
from olist_pipeline.stack.prereqs import PrerequisiteError, java_binary
from olist_pipeline.stack.service import Daemon, port_open

SERVER_CLASS = "org.apache.spark.sql.connect.service.SparkConnectServer"

_LOG4J = """\
status = warn
appender.out.type = Console
appender.out.name = STDOUT
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = %d{yy/MM/dd HH:mm:ss} %p %c{1}: %m%n
rootLogger.level = WARN
rootLogger.appenderRef.out.ref = STDOUT
logger.connect.name = org.apache.spark.sql.connect.service.SparkConnectServer
logger.connect.level = INFO
# The RFM quintiles and all-order totals are global windows on purpose; one WARN per task.
logger.window.name = org.apache.spark.sql.execution.window.WindowExec
logger.window.level = ERROR
"""


def spark_home() -> Path:
    """The installed pyspark package: its ``bin/`` and ``jars/`` are a Spark distribution."""
    spec = importlib.util.find_spec("pyspark")
    if spec is None or not spec.submodule_search_locations:
        raise PrerequisiteError("pyspark is not installed in this environment; run `make setup`")
    return Path(next(iter(spec.submodule_search_locations)))


class SparkConnectService(Daemon):
    name = "spark-connect"
    binary = SERVER_CLASS
    port_variable = "OLIST_SPARK_CONNECT_PORT"
    # A cold JVM on a busy 2-core machine takes 10-40 s to open its gRPC port.
    ready_timeout = 120.0
    port: int  # always one: the gRPC port

    def __init__(self, settings: Settings) -> None:
        super().__init__(
            settings, settings.spark.connect_port, settings.local.state_dir / "spark-connect"
        )

    @property
    def address(self) -> str:
        return f"sc://127.0.0.1:{self.port}"

    def check_prerequisites(self) -> None:
        java_binary()
        submit = spark_home() / "bin" / "spark-submit"
        if not submit.exists():
            raise PrerequisiteError(f"{submit} is missing; reinstall pyspark with `make setup`")

    def prepare(self) -> None:
        jars.ensure(self.settings)
        (self.root / "tmp").mkdir(parents=True, exist_ok=True)
        (self.root / "log4j2.properties").write_text(_LOG4J)

    def argv(self) -> list[str]:
        from olist_pipeline.transform.spark import local_conf

        conf = local_conf(self.settings)
        conf["spark.driver.extraJavaOptions"] += (
            f" -Dlog4j2.configurationFile={self.root / 'log4j2.properties'}"
        )
        conf.update(
            {
                "spark.connect.grpc.binding.address": "127.0.0.1",
                "spark.connect.grpc.binding.port": str(self.port),
                "spark.pyspark.python": sys.executable,
            }
        )
        argv = [str(spark_home() / "bin" / "spark-submit"), "--class", SERVER_CLASS]
        argv += ["--name", "olist-spark-connect"]
        for key, value in conf.items():
            argv += ["--conf", f"{key}={value}"]
        return argv

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        # A client's flag must not turn the server's own launcher into a client.
        env.pop("SPARK_CONNECT_MODE_ENABLED", None)
        env.pop("SPARK_REMOTE", None)
        env["SPARK_HOME"] = str(spark_home())
        env["PYSPARK_PYTHON"] = sys.executable
        env["SPARK_LOCAL_IP"] = "127.0.0.1"
        # Shuffle and spill files under .local/, not /tmp.
        env["SPARK_LOCAL_DIRS"] = str(self.root / "tmp")
        return env

    def healthy(self) -> bool:
        # The gRPC port opens only once the session manager is up.
        return port_open(self.port)
