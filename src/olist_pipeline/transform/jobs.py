"""Entry points shared by the CLI and the spark-apps/*.py files."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence

from olist_pipeline.config import Settings, load_settings
from olist_pipeline.errors import EXIT_FAILURE, EXIT_OK, OlistError, UsageError
from olist_pipeline.logs import bind_context, configure_logging, get_logger

log = get_logger(__name__)


def run_layers(settings: Settings, layers: Sequence[str], run_id: str | None) -> None:
    """Build ``layers`` in order in one Spark session."""
    from olist_pipeline.transform import marts, staging, warehouse
    from olist_pipeline.transform.spark import spark_session

    rid = run_id or settings.run_id
    if not rid:
        raise UsageError("no run id: pass --run-id RID (or set OLIST_RUN_ID)")
    bind_context(run_id=rid)
    runners = {"staging": staging.run, "warehouse": warehouse.run, "marts": marts.run}
    spark = spark_session(settings, f"olist-{'-'.join(layers)}-{rid}")
    for layer in layers:
        t0 = time.monotonic()
        runners[layer](settings, rid, spark)
        log.info("layer_built", layer=layer, seconds=round(time.monotonic() - t0, 1))


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
