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
from olist_pipeline.transform import incremental
from olist_pipeline.transform.incremental import Plan
from olist_pipeline.transform.options import add_full_refresh

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from olist_pipeline.transform.io import Layer

log = get_logger(__name__)


def run_layers(
    settings: Settings, layers: Sequence[str], run_id: str | None, *, full_refresh: bool = False
) -> dict[str, Plan]:
    """Build ``layers`` in order in one Spark session, started only if one has work.

    Returns each layer's plan (what it found to do).
    """
    from olist_pipeline.transform.spark import spark_session

    rid = run_id or settings.run_id
    if not rid:
        raise UsageError("no run id: pass --run-id RID (or set OLIST_RUN_ID)")
    bind_context(run_id=rid)
    session: list[SparkSession] = []

    def spark() -> SparkSession:
        if not session:
            session.append(spark_session(settings, f"olist-{'-'.join(layers)}-{rid}"))
        return session[0]

    return built_layers(
        settings, rid, spark, layers, lambda layer, seconds: None, full_refresh=full_refresh
    )


def built_layers(
    settings: Settings,
    run_id: str,
    spark: Callable[[], SparkSession],
    layers: Sequence[str],
    on_built: Callable[[str, float], None],
    *,
    full_refresh: bool = False,
) -> dict[str, Plan]:
    """Build ``layers`` in order; in-process, staging hands its tables to the warehouse in memory.

    Each layer first reads its plan (``transform.incremental``): pending
    batches and the keys the layer below marked. A layer with nothing pending
    records a no-op step and starts no Spark session. The layer below is read
    back over JDBC when it was not built in this session (and the marts always
    read the warehouse: see ``warehouse.build_and_publish``). ``on_built(layer,
    seconds)`` is called after each layer.
    """
    from olist_pipeline.transform import marts, staging, warehouse

    previous: Layer | None = None
    plans: dict[str, Plan] = {}
    try:
        for i, layer in enumerate(layers):
            t0 = time.monotonic()
            p = incremental.plan(settings, layer, full_refresh=full_refresh)
            plans[layer] = p
            if p.noop:
                _record_noop(settings, run_id, p)
            elif layer == "staging":
                _, previous = staging.build_and_publish(settings, run_id, spark(), plan=p)
                # A Connect client re-sends and the server re-analyses a DataFrame's whole
                # plan with every query built on it: on staging's frames (raw reads,
                # windows, casts) that cost more than reading the tables back. Measured
                # at scale 1 (bench_transform, idle): warehouse 28.7 s on the handed-over
                # frames, 19.0 s reading them back.
                handoff = not settings.spark.remote
                if not handoff or i + 1 == len(layers) or layers[i + 1] != "warehouse":
                    previous.release()
                    previous = None
            elif layer == "warehouse":
                warehouse.build_and_publish(settings, run_id, spark(), previous, plan=p)
                previous = None
            else:
                marts.build_and_publish(settings, run_id, spark(), plan=p)
            seconds = time.monotonic() - t0
            log.info("layer_built", layer=layer, seconds=round(seconds, 1), **p.describe())
            on_built(layer, seconds)
    finally:
        if previous is not None:
            previous.release()
    return plans


def _record_noop(settings: Settings, run_id: str, p: Plan) -> None:
    """Nothing pending: the step is recorded (and the DQ gates read the last numbers)."""
    from olist_pipeline.transform.io import step_run

    with step_run(settings, run_id, f"transform.{p.layer}") as step:
        step["rows_in"] = 0
        step["rows_out"] = 0
        step["detail"] = {"plan": p.describe()}


def spark_main(layer: str, argv: Sequence[str] | None = None) -> int:
    """``main(argv)`` of spark-apps/<layer>.py: every failure is a non-zero exit.

    A Spark driver that swallows an exception ends "COMPLETED" (see the Spark
    Operator's driver-pod semantics), so nothing here is caught silently.
    """
    parser = argparse.ArgumentParser(prog=f"spark-apps/{layer}.py")
    parser.add_argument("--run-id", default=None)
    add_full_refresh(parser)
    args = parser.parse_args(list(argv) if argv is not None else None)
    try:
        settings = load_settings()
        configure_logging(settings.log_level, settings.log_format, settings.log_file)
        run_layers(settings, (layer,), args.run_id, full_refresh=args.full_refresh)
    except OlistError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except Exception as exc:
        log.exception("spark_job_failed", layer=layer)
        print(f"error: {layer} failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    return EXIT_OK
