"""``olist metrics publish | contract``."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from olist_pipeline.config import Settings
from olist_pipeline.errors import EXIT_OK


def register(sub: Any) -> None:
    metrics = sub.add_parser("metrics", help="batch metrics and the metrics contract")
    msub = metrics.add_subparsers(dest="metrics_command", metavar="ACTION", required=True)
    pub = msub.add_parser(
        "publish",
        help="push a run's batch metrics (steps, ingest, DQ, parity) from the audit tables "
        "to the Pushgateway",
    )
    pub.add_argument("--run-id", required=True, help="the run whose DQ and parity results to push")
    pub.add_argument(
        "--pushgateway",
        default=None,
        metavar="URL",
        help="Pushgateway URL (default: OLIST_PUSHGATEWAY_URL, locally http://127.0.0.1:19091)",
    )
    pub.add_argument(
        "--dry-run",
        action="store_true",
        help="print the metrics in the Prometheus text format instead of pushing them",
    )
    pub.set_defaults(func=_publish)
    contract = msub.add_parser("contract", help="list every metric of the contract")
    contract.set_defaults(func=_contract)


def _publish(args: argparse.Namespace, settings: Settings) -> int:
    from olist_pipeline.metrics.publish import collect, publish

    if args.dry_run:
        print(collect(settings, args.run_id).exposition(), end="")
        return EXIT_OK
    pub = publish(settings, args.run_id, url=args.pushgateway)
    print(json.dumps(pub.as_dict(), sort_keys=True))
    if not pub.pushed:
        print(
            f"note: no Pushgateway at {pub.url}; nothing pushed (start it with `make monitor`)",
            file=sys.stderr,
        )
    return EXIT_OK


def _contract(args: argparse.Namespace, settings: Settings) -> int:
    from olist_pipeline.metrics.metrics import contract

    for spec in contract().values():
        labels = ",".join(spec.labels)
        print(f"{spec.name:<52} {spec.type:<9} {spec.source:<8} {{{labels}}}")
    return EXIT_OK
