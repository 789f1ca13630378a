"""``olist transform staging|warehouse|marts|all --run-id RID`` (Spark in-process)."""

from __future__ import annotations

import argparse
from typing import Any

from olist_pipeline.config import Settings
from olist_pipeline.errors import EXIT_OK
from olist_pipeline.transform.options import add_full_refresh

LAYERS = ("staging", "warehouse", "marts")


def register(sub: Any) -> None:
    p = sub.add_parser(
        "transform",
        help="PySpark batch transformations: raw -> staging -> warehouse -> marts",
        description="Build one layer (or all, in order) from the layer below and publish it "
        "atomically. By default a layer takes in only what is new since its last run (raw "
        "batches it has not staged, keys the layer below changed) and does nothing when "
        "nothing is; the result equals a full rebuild.",
    )
    p.add_argument("layer", choices=(*LAYERS, "all"), help="the layer to build")
    p.add_argument("--run-id", default=None, help="run id (default: OLIST_RUN_ID)")
    add_full_refresh(p)
    p.set_defaults(func=_transform)


def _transform(args: argparse.Namespace, settings: Settings) -> int:
    from olist_pipeline.transform.jobs import run_layers

    layers = LAYERS if args.layer == "all" else (args.layer,)
    plans = run_layers(settings, layers, args.run_id, full_refresh=args.full_refresh)
    for layer, plan in plans.items():
        d = plan.describe()
        print(f"{layer:<10} {d['mode']:<10} batches={d['batches']:<5} ({d['reason']})")
    return EXIT_OK
