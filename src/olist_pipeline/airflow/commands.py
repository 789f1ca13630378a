"""``olist airflow ...``: run DAGs locally, serve the UI, render the cluster objects."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from olist_pipeline.config import Settings
from olist_pipeline.errors import EXIT_FAILURE, EXIT_OK


def register(sub: Any) -> None:
    af = sub.add_parser("airflow", help="Airflow orchestration: local runs, UI, cluster objects")
    asub = af.add_subparsers(dest="airflow_command", metavar="COMMAND", required=True)

    rb = asub.add_parser(
        "run-batch",
        help="run the olist_batch DAG end to end on the local target (dag.test)",
    )
    rb.add_argument("--run-id", required=True, metavar="RID", help="key of the run's writes")
    src = rb.add_mutually_exclusive_group(required=True)
    src.add_argument("--data-dir", type=Path, metavar="DIR",
                     help="a one-off load of this folder of all the Olist CSV files")  # fmt: skip
    src.add_argument("--day", type=date.fromisoformat, metavar="YYYY-MM-DD",
                     help="the daily run of this day: ingests <landing>/<day>/")  # fmt: skip
    rb.add_argument("--landing", type=Path, default=None, metavar="DIR",
                    help="with --day: where the day folders are (OLIST_LANDING_DIR)")  # fmt: skip
    rb.add_argument("--airflow-home", type=Path, default=None,
                    help="metadata database and logs (default: <state dir>/airflow)")  # fmt: skip
    rb.add_argument("--json", action="store_true", help="print the result as JSON")
    rb.set_defaults(func=_run_batch)

    ui = asub.add_parser("ui", help="serve the Airflow UI on 127.0.0.1 (Ctrl-C stops it)")
    ui.add_argument("--port", type=int, default=None, help="port (default: 18080)")
    ui.set_defaults(func=_ui)

    stop = asub.add_parser("stop", help="stop the Airflow UI started by `olist airflow ui`")
    stop.set_defaults(func=_stop)

    render = asub.add_parser(
        "render", help="print the pods and SparkApplications a kind run would submit (offline)"
    )
    render.add_argument("--dag", default="olist_batch", help="DAG id (default: olist_batch)")
    render.add_argument("--run-id", default="manual__example", help="run id to render with")
    render.add_argument("--day", type=date.fromisoformat, default=None, metavar="YYYY-MM-DD",
                        help="day the rendered run's interval starts (2026-01-01)")  # fmt: skip
    render.set_defaults(func=_render)

    apps = asub.add_parser(
        "sparkapps",
        help="write spark-apps/k8s/*.yaml, the SparkApplications, from the pipeline definition",
    )
    apps.add_argument("--check", action="store_true",
                      help="write nothing; exit 1 naming each file that differs")  # fmt: skip
    apps.add_argument("--dir", type=Path, default=None, metavar="DIR",
                      help="their folder (default: OLIST_SPARK_TEMPLATES_DIR's)")  # fmt: skip
    apps.set_defaults(func=_sparkapps)


def _run_batch(args: argparse.Namespace, settings: Settings) -> int:
    from olist_pipeline.airflow.local_run import run_batch_dag

    result = run_batch_dag(
        settings,
        args.run_id,
        args.data_dir,
        day=args.day,
        landing_dir=args.landing,
        airflow_home=args.airflow_home,
        echo=not args.json,
    )
    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
    else:
        print(f"{'task':<32} {'state':<16} {'tries':>5} {'seconds':>8}")
        for t in result.tasks:
            secs = f"{t.duration_s:.1f}" if t.duration_s is not None else "-"
            print(f"{t.task_id:<32} {t.state or '-':<16} {t.try_number:>5} {secs:>8}")
        print(f"olist_batch {result.state} in {result.duration_s:.1f}s; log: {result.log_file}")
    return EXIT_OK if result.ok else EXIT_FAILURE


def _ui(args: argparse.Namespace, settings: Settings) -> int:
    from olist_pipeline.airflow import ui

    return ui.serve(settings, args.port or ui.DEFAULT_PORT)


def _stop(args: argparse.Namespace, settings: Settings) -> int:
    from olist_pipeline.airflow import ui

    print("stopped the Airflow UI" if ui.stop(settings) else "no Airflow UI was running")
    return EXIT_OK


def _sparkapps(args: argparse.Namespace, settings: Settings) -> int:
    import os

    from olist_pipeline import config
    from olist_pipeline.airflow import sparkapps
    from olist_pipeline.errors import OlistError

    directory: Path = args.dir or config.dag_spark_templates_dir(os.environ)
    problems = []
    if args.check:
        problems += [
            f"{directory / name} is stale: run `olist airflow sparkapps` to rewrite it"
            for name in sparkapps.stale(directory)
        ]
    else:
        for name in sparkapps.write(directory):
            print(f"wrote {directory / name}")
    problems += [
        f"{directory / name} is the SparkApplication of no job: delete it, or add its job"
        " to olist_pipeline.airflow.definition"
        for name in sparkapps.unknown(directory)
    ]
    if problems:
        raise OlistError("; ".join(problems))
    print(f"{directory}: every SparkApplication matches the pipeline definition")
    return EXIT_OK


def _render(args: argparse.Namespace, settings: Settings) -> int:
    import os

    import yaml

    from olist_pipeline.airflow.local_run import default_airflow_home

    # Airflow reads AIRFLOW_HOME at import: keep its files out of ~/airflow.
    os.environ.setdefault("AIRFLOW_HOME", str(default_airflow_home(settings)))

    from olist_pipeline.airflow.definition import PIPELINES
    from olist_pipeline.airflow.render import render_kind

    pipeline = next((p for p in PIPELINES if p.dag_id == args.dag), None)
    if pipeline is None:
        from olist_pipeline.errors import UsageError

        raise UsageError(f"unknown DAG {args.dag!r}; known: {[p.dag_id for p in PIPELINES]}")
    from olist_pipeline.airflow.render import EXAMPLE_INTERVAL_START

    start = (
        datetime(args.day.year, args.day.month, args.day.day, tzinfo=UTC)
        if args.day
        else EXAMPLE_INTERVAL_START
    )
    docs = [r.manifest for r in render_kind(pipeline, run_id=args.run_id, interval_start=start)]
    print(yaml.safe_dump_all(docs, sort_keys=False), end="")
    return EXIT_OK
