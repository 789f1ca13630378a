"""``olist stream live [--until-caught-up]``: the live sales Structured Streaming job."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from olist_pipeline.config import Settings
from olist_pipeline.errors import EXIT_OK


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} must be >= 1")
    return value


def register_live(ssub: Any) -> None:
    p = ssub.add_parser(
        "live", help="live sales per minute from the event topics (Spark Structured Streaming)"
    )
    p.add_argument(
        "--until-caught-up",
        action="store_true",
        help="exit 0 once every offset available at start is processed and committed",
    )
    p.add_argument(
        "--checkpoint",
        type=Path,
        default=None,
        help="checkpoint folder (default: .local/live/checkpoint; a volume on the cluster)",
    )
    p.add_argument(
        "--watermark-delay",
        default="1d",
        help="event time an event may trail the newest applied one before it is late "
        "(e.g. 10m, 6h, 1d; default 1d); the watermark never moves back, so a wider delay "
        "takes effect once the newest event time has passed the old watermark",
    )
    p.add_argument("--max-offsets-per-trigger", type=_positive_int, default=20_000)
    p.add_argument("--trigger-seconds", type=float, default=2.0)
    p.add_argument(
        "--metrics-port",
        type=int,
        default=None,
        help="serve /metrics on this port (default: OLIST_METRICS_PORT if set)",
    )
    p.add_argument("--metrics-host", default="127.0.0.1", help="0.0.0.0 in a pod")
    p.set_defaults(func=_live)


def _live(args: argparse.Namespace, settings: Settings) -> int:
    from olist_pipeline.stream.live.job import LiveJob, LiveOptions, parse_duration

    port = args.metrics_port
    if port is None and settings.metrics_port:
        port = settings.metrics_port
    opts = LiveOptions(
        checkpoint=args.checkpoint,
        watermark_delay=parse_duration(args.watermark_delay),
        max_offsets_per_trigger=args.max_offsets_per_trigger,
        trigger_seconds=args.trigger_seconds,
        until_caught_up=args.until_caught_up,
        metrics_host=args.metrics_host,
        metrics_port=port,
    )
    summary = LiveJob(settings, opts).run()
    print(json.dumps(summary.as_dict(), sort_keys=True))
    return EXIT_OK
