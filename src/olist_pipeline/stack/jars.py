"""JVM jars for the local target (Kafka broker, PostgreSQL JDBC driver).

Resolved once from Maven Central with the pinned ``pom.xml`` next to this
file; a stamp holding the pom's hash makes re-runs free and a pin change
re-resolve. Further jar sets (``SETS``: Kafka Connect with the Debezium JDBC
sink, which only the stream benchmark runs) have a pom of their own and a
folder of their own, resolved only when asked for.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
from importlib import resources
from pathlib import Path

from olist_pipeline.config import Settings, spark_version
from olist_pipeline.stack.prereqs import PrerequisiteError, maven_binary

# jar set -> (pom next to this file, folder under the jars dir)
SETS: dict[str, tuple[str, str]] = {
    "stack": ("pom.xml", "lib"),
    "connect": ("connect-pom.xml", "connect"),
}


def _pom_bytes(jar_set: str = "stack") -> bytes:
    return resources.files("olist_pipeline.stack").joinpath(SETS[jar_set][0]).read_bytes()


def pinned_versions() -> dict[str, str]:
    """The versions pinned in the pom (printed by ``make status``)."""
    text = _pom_bytes().decode()
    return dict(re.findall(r"<([a-z0-9.]+)\.version>([^<]+)<", text))


def lib_dir(settings: Settings, jar_set: str = "stack") -> Path:
    if jar_set == "stack":
        return settings.local.stack_jars_dir  # where Settings.jdbc_jar looks
    return settings.local.jars_dir / SETS[jar_set][1]


def _inherited(jar_set: str) -> list[str]:
    """Maven properties a further set takes from the stack's pom (its pins stay written once)."""
    if jar_set == "stack":
        return []
    jdbc = pinned_versions()["postgresql.jdbc"]
    return [f"-Dpostgresql.jdbc.version={jdbc}"]


def ensure(settings: Settings, jar_set: str = "stack") -> Path:
    """Resolve the jars if the pinned set is not there yet; return their folder."""
    pom_name, folder = SETS[jar_set]
    pom = _pom_bytes(jar_set)
    inherited = _inherited(jar_set)
    # An inherited pin is part of what was resolved: changing it must re-resolve.
    digest = hashlib.sha256(pom + "\n".join(inherited).encode()).hexdigest()
    target = lib_dir(settings, jar_set)
    # The stack's stamp keeps its historical name, so existing checkouts do not re-resolve.
    stamp = settings.local.jars_dir / ("stamp" if jar_set == "stack" else f"{folder}.stamp")
    if target.is_dir() and stamp.is_file() and stamp.read_text().strip() == digest:
        return target
    mvn = maven_binary()
    work = settings.local.jars_dir
    work.mkdir(parents=True, exist_ok=True)
    (work / pom_name).write_bytes(pom)
    staging = work / f"{folder}.new"
    shutil.rmtree(staging, ignore_errors=True)
    out = subprocess.run(
        [
            mvn, "-q", "-B", "-f", str(work / pom_name), *inherited,
            "dependency:copy-dependencies", f"-DoutputDirectory={staging}",
        ],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if out.returncode != 0:
        raise PrerequisiteError(
            f"Maven could not fetch the {jar_set} jars ({pom_name}) from Maven Central:\n"
            + (out.stdout + out.stderr).strip()[-1500:]
        )
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)
    stamp.write_text(digest)
    return target


def jdbc_jar(settings: Settings) -> Path:
    """The PostgreSQL JDBC driver jar, resolved first if missing (OLIST_JDBC_JAR wins when set)."""
    if settings.spark.jdbc_jar is None:
        ensure(settings)
    return settings.jdbc_jar()


# ---- Spark's Kafka source (live sales job) --------------------------------
# A folder of its own: spark-sql-kafka brings a kafka-clients that must not
# join the broker's classpath (lib/*). Same stamp scheme as ensure().


def _spark_kafka_pom() -> bytes:
    return resources.files("olist_pipeline.stack").joinpath("spark-kafka.pom.xml").read_bytes()


def spark_kafka_jars(settings: Settings) -> list[Path]:
    """spark-sql-kafka and the jars it needs beyond pyspark's, resolved once."""
    pom = _spark_kafka_pom()
    spark = spark_version()
    digest = hashlib.sha256(pom + spark.encode()).hexdigest()
    work = settings.local.jars_dir / "spark-kafka"
    target = work / "lib"
    stamp = work / "stamp"
    if not (target.is_dir() and stamp.is_file() and stamp.read_text().strip() == digest):
        mvn = maven_binary()
        work.mkdir(parents=True, exist_ok=True)
        (work / "pom.xml").write_bytes(pom)
        staging = work / "lib.new"
        shutil.rmtree(staging, ignore_errors=True)
        out = subprocess.run(
            [
                mvn, "-q", "-B", "-f", str(work / "pom.xml"), "dependency:copy-dependencies",
                "-DincludeScope=runtime", f"-DoutputDirectory={staging}",
                f"-Dspark.version={spark}",
            ],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        if out.returncode != 0:
            raise PrerequisiteError(
                "Maven could not fetch spark-sql-kafka from Maven Central:\n"
                + (out.stdout + out.stderr).strip()[-1500:]
            )
        shutil.rmtree(target, ignore_errors=True)
        staging.rename(target)
        stamp.write_text(digest)
    found = sorted(target.glob("*.jar"))
    if not any(p.name.startswith("spark-sql-kafka") for p in found):
        raise PrerequisiteError(f"spark-sql-kafka is missing from {target} after resolving jars")
    return found


# ---- end of Spark's Kafka source ------------------------------------------
