"""Entry points shared by the CLI and the spark-apps/*.py files."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from olist_pipeline.config import Settings, load_settings
from olist_pipeline.errors import EXIT_FAILURE, EXIT_OK, OlistError, UsageError
from olist_pipeline.logs import bind_context, configure_logging, get_logger

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from olist_pipeline.transform.io import Layer

log = get_logger(__name__)


def run_layers(settings: Settings, layers: Sequence[str], run_id: str | None) -> None:
    """Build ``layers`` in order in one Spark session."""
    from olist_pipeline.transform.spark import spark_session

    rid = run_id or settings.run_id
    if not rid:
        raise UsageError("no run id: pass --run-id RID (or set OLIST_RUN_ID)")
    bind_context(run_id=rid)
    spark = spark_session(settings, f"olist-{'-'.join(layers)}-{rid}")
    built_layers(settings, rid, spark, layers, lambda layer, seconds: None)


def built_layers(
    settings: Settings,
    run_id: str,
    spark: SparkSession,
    layers: Sequence[str],
    on_built: Callable[[str, float], None],
) -> None:
    """Build ``layers`` in order; staging hands its tables to the warehouse in memory.

    The layer below is read back over JDBC when it was not built in this
    session (and the marts always read the warehouse: see
    ``warehouse.build_and_publish``). ``on_built(layer, seconds)`` is called
    after each layer.
    """
    from olist_pipeline.transform import marts, staging, warehouse

    previous: Layer | None = None
    try:
        for i, layer in enumerate(layers):
            t0 = time.monotonic()
            if layer == "staging":
                _, previous = staging.build_and_publish(settings, run_id, spark)
                if i + 1 == len(layers) or layers[i + 1] != "warehouse":
                    previous.release()
                    previous = None
            elif layer == "warehouse":
                warehouse.build_and_publish(settings, run_id, spark, previous)
                previous = None
            else:
                marts.build_and_publish(settings, run_id, spark)
            seconds = time.monotonic() - t0
            log.info("layer_built", layer=layer, seconds=round(seconds, 1))
            on_built(layer, seconds)
    finally:
        spark.catalog.clearCache()


def spark_main(layer: str, argv: Sequence[str] | None = None) -> int:
    """``main(argv)`` of spark-apps/<layer>.py: every failure is a non-zero exit.

    A Spark driver that swallows an exception ends "COMPLETED" (see the Spark
    Operator's driver-pod semantics), so nothing here is caught silently.
    """
    parser = argparse.ArgumentParser(prog=f"spark-apps/{layer}.py")
    parser.add_argument("--run-id", default=None)
    args = parser.parse_args(list(argv) if argv is not None else None)
    try:
        settings = load_settings()
        configure_logging(settings.log_level, settings.log_format, settings.log_file)
        run_layers(settings, (layer,), args.run_id)
    except OlistError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except Exception as exc:
        log.exception("spark_job_failed", layer=layer)
        print(f"error: {layer} failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    return EXIT_OK
