"""``olist stream topics create | produce | consume | dlq-replay | live``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from olist_pipeline.config import Settings
from olist_pipeline.errors import EXIT_FAILURE, EXIT_OK, UsageError


def _probability(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"{text} is not a probability between 0 and 1")
    return value


def _positive(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text} must be > 0")
    return value


def register(sub: Any) -> None:
    stream = sub.add_parser("stream", help="event topics, replay producer, exactly-once consumers")
    ssub = stream.add_subparsers(dest="stream_command", metavar="ACTION", required=True)

    topics = ssub.add_parser("topics", help="topics declared in stream/topics.yaml")
    tsub = topics.add_subparsers(dest="topics_command", metavar="ACTION", required=True)
    tsub.add_parser("create", help="create the declared topics (idempotent)").set_defaults(
        func=_topics_create
    )
    tsub.add_parser("list", help="print the declared topics and whether they exist").set_defaults(
        func=_topics_list
    )

    p = ssub.add_parser("produce", help="replay Olist order and payment events into Kafka")
    p.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="folder of Olist CSV files (default: OLIST_DATA_DIR)",
    )
    pace = p.add_mutually_exclusive_group()
    pace.add_argument(
        "--speed",
        type=_positive,
        default=None,
        help="event-time compression factor (86400 = one day per second)",
    )
    pace.add_argument("--rate", type=_positive, default=None, help="at most N events per second")
    p.add_argument(
        "--limit",
        type=int,
        default=None,
        help="replay only the first N orders of the orders file (with their payments)",
    )
    p.add_argument("--stream", choices=("orders", "payments", "all"), default="all")
    p.add_argument(
        "--duplicates",
        type=_probability,
        default=0.0,
        help="probability of re-sending an event (same event_id)",
    )
    p.add_argument(
        "--out-of-order",
        type=_probability,
        default=0.0,
        help="probability of holding an event back a few positions",
    )
    p.add_argument(
        "--poison",
        type=int,
        default=0,
        help="invalid messages to inject per stream (not JSON, schema-invalid, "
        "unknown type, oversized, in turn)",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the fault injection")
    p.add_argument("--schema-version", type=int, default=1, choices=(1, 2))
    p.add_argument(
        "--metrics-port",
        type=int,
        default=None,
        help="serve /metrics on 127.0.0.1:PORT while producing",
    )
    p.set_defaults(func=_produce)

    c = ssub.add_parser("consume", help="run one exactly-once consumer (one group member)")
    c.add_argument("--stream", choices=("orders", "payments"), required=True)
    c.add_argument(
        "--group", default=None, help="consumer group (default: olist.<stream>.sink), namespaced"
    )
    c.add_argument(
        "--metrics-port",
        type=int,
        default=None,
        help="port of /metrics, /healthz, /readyz (0: any free port; default: "
        "OLIST_METRICS_PORT if set, else no server)",
    )
    c.add_argument(
        "--metrics-host",
        default="127.0.0.1",
        help="address to bind the HTTP server (0.0.0.0 in a pod)",
    )
    c.add_argument(
        "--max-idle", type=float, default=None, help="exit 0 after S seconds without messages"
    )
    c.add_argument(
        "--until-caught-up",
        action="store_true",
        help="exit 0 once every assigned partition is consumed to its end",
    )
    c.add_argument("--batch-size", type=int, default=5000)
    c.add_argument(
        "--max-event-bytes",
        type=int,
        default=None,
        help="larger events are dead-lettered as oversized (default 65536)",
    )
    c.add_argument("--session-timeout-ms", type=int, default=10_000)
    c.add_argument(
        "--instance-id", default=None, help="static group membership id (e.g. the pod name)"
    )
    c.set_defaults(func=_consume)

    r = ssub.add_parser("dlq-replay", help="re-publish dead-lettered events to the main topic")
    r.add_argument("--stream", choices=("orders", "payments"), required=True)
    r.add_argument(
        "--fix",
        action="append",
        default=[],
        metavar="NAME",
        help="fix applied before re-validation (repeatable): drop-unknown-fields, "
        "latest-schema-version",
    )
    r.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="ERROR_CLASS",
        help="replay only dead letters of this error class (repeatable)",
    )
    r.add_argument("--timeout", type=float, default=60.0)
    r.set_defaults(func=_dlq_replay)

    from olist_pipeline.stream.live.commands import register_live

    register_live(ssub)


def _topics_create(args: argparse.Namespace, settings: Settings) -> int:
    from olist_pipeline.stream.topics import create_topics

    for name, state in sorted(create_topics(settings).items()):
        print(f"{name:<40} {state}")
    return EXIT_OK


def _topics_list(args: argparse.Namespace, settings: Settings) -> int:
    from olist_pipeline.stream.topics import all_topics, describe

    existing = describe(settings)
    for spec in all_topics():
        name = settings.kafka.topic(spec.name)
        state = f"exists ({existing[name]} partitions)" if name in existing else "missing"
        print(f"{name:<40} {spec.partitions} partitions  {state}")
    return EXIT_OK


def _produce(args: argparse.Namespace, settings: Settings) -> int:
    from olist_pipeline.stream.producer import produce
    from olist_pipeline.stream.source import load_events
    from olist_pipeline.stream.topics import STREAMS

    data_dir = args.data_dir or settings.data_dir
    if data_dir is None:
        raise UsageError("no data: pass --data-dir DIR or set OLIST_DATA_DIR")
    server = None
    if args.metrics_port is not None:
        from olist_pipeline.stream.health import HealthServer, HealthState

        server = HealthServer(HealthState(), "127.0.0.1", args.metrics_port).start()
    try:
        events, stats = load_events(Path(data_dir), args.limit)
        streams = STREAMS if args.stream == "all" else (args.stream,)
        report = produce(
            settings,
            events,
            speed=args.speed,
            rate=args.rate,
            duplicates=args.duplicates,
            out_of_order=args.out_of_order,
            poison=args.poison,
            seed=args.seed,
            schema_version=args.schema_version,
            streams=streams,
        )
    finally:
        if server is not None:
            server.stop()
    out = report.as_dict()
    out["source"] = {
        "orders": stats.orders,
        "payments": stats.payments,
        "skipped_rows": stats.skipped_rows,
        "orphan_payments": stats.orphan_payments,
    }
    print(json.dumps(out, sort_keys=True))
    return EXIT_FAILURE if out["failed"] or out["undelivered"] else EXIT_OK


def _consume(args: argparse.Namespace, settings: Settings) -> int:
    from olist_pipeline.stream.consumer import ConsumerOptions, StreamConsumer
    from olist_pipeline.stream.validation import DEFAULT_MAX_EVENT_BYTES

    port = args.metrics_port
    if port is None and settings.metrics_port:
        port = settings.metrics_port
    opts = ConsumerOptions(
        stream=args.stream,
        group=args.group,
        batch_size=args.batch_size,
        max_idle=args.max_idle,
        until_caught_up=args.until_caught_up,
        metrics_host=args.metrics_host,
        metrics_port=port,
        max_event_bytes=args.max_event_bytes or DEFAULT_MAX_EVENT_BYTES,
        session_timeout_ms=args.session_timeout_ms,
        instance_id=args.instance_id,
    )
    summary = StreamConsumer(settings, opts).run()
    print(json.dumps(summary.as_dict(), sort_keys=True))
    return EXIT_OK


def _dlq_replay(args: argparse.Namespace, settings: Settings) -> int:
    from olist_pipeline.stream.dlq import replay

    report = replay(
        settings, args.stream, fixes=args.fix, only_classes=args.only, timeout=args.timeout
    )
    print(json.dumps(report.as_dict(), sort_keys=True))
    return EXIT_OK
