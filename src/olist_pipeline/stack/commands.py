"""``olist stack up | down | status | dsn | restart``."""

from __future__ import annotations

import argparse
from typing import Any

from olist_pipeline.config import Role, Settings
from olist_pipeline.errors import EXIT_FAILURE, EXIT_OK


def register(sub: Any) -> None:
    stack = sub.add_parser("stack", help="start, stop and inspect the local services")
    ssub = stack.add_subparsers(dest="stack_command", metavar="ACTION", required=True)

    def with_services(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument(
            "services",
            nargs="*",
            help="limit to these services or groups (default: all but the on-demand monitoring "
            "services; `monitor` = pushgateway, postgres-exporter, prometheus; `cluster` = etcd, "
            "kube-apiserver, kube-controller-manager, kube-scheduler, kwok)",
            metavar="SERVICE",
        )
        return p

    with_services(
        ssub.add_parser("up", help="start the services and wait until healthy")
    ).set_defaults(func=_up)
    with_services(ssub.add_parser("down", help="stop the services")).set_defaults(func=_down)
    with_services(
        ssub.add_parser("status", help="print each service's state and address")
    ).set_defaults(func=_status)
    with_services(ssub.add_parser("restart", help="stop then start")).set_defaults(func=_restart)
    dsn = ssub.add_parser("dsn", help="print the PostgreSQL URL alone (for psql and other tools)")
    dsn.add_argument(
        "--role",
        choices=[r.value for r in Role],
        default=Role.ADMIN.value,
        help="which component's login to print (default: admin)",
    )
    dsn.set_defaults(func=_dsn)
    ssub.add_parser(
        "fetch", help="fetch the pinned Kafka broker and JDBC jars from Maven Central"
    ).set_defaults(func=_fetch)
    versions = ssub.add_parser("versions", help="print the pinned versions of the stack")
    versions.set_defaults(func=_versions)
    ports = ssub.add_parser(
        "ports",
        help='print every service\'s port as shell exports (`eval "$(olist stack ports --free)"`)',
    )
    ports.add_argument(
        "--free",
        action="store_true",
        help="if any port is in use, shift the whole block to the first one where all are free",
    )
    ports.set_defaults(func=_ports)


def _stack(args: argparse.Namespace, settings: Settings, everything: bool = False) -> Any:
    from olist_pipeline.stack.stack import LocalStack

    return LocalStack(settings, args.services or None, everything=everything)


def _print_states(states: Any) -> None:
    for st in states:
        pid = f"pid {st.pid}" if st.pid else ""
        print(f"{st.name:<23} {st.label:<9} {st.address:<18} {pid}".rstrip())


def _up(args: argparse.Namespace, settings: Settings) -> int:
    states = _stack(args, settings).up()
    _print_states(states)
    return EXIT_OK if all(s.healthy for s in states) else EXIT_FAILURE


def _down(args: argparse.Namespace, settings: Settings) -> int:
    # Bare `down` also stops the on-demand services (monitoring) if they run.
    states = _stack(args, settings, everything=True).down()
    _print_states(states)
    return EXIT_OK if not any(s.running for s in states) else EXIT_FAILURE


def _status(args: argparse.Namespace, settings: Settings) -> int:
    _print_states(_stack(args, settings, everything=True).status())
    return EXIT_OK


def _restart(args: argparse.Namespace, settings: Settings) -> int:
    stack = _stack(args, settings)
    for s in stack.services:
        stack.restart(s.name)
    _print_states(stack.status())
    return EXIT_OK


def _dsn(args: argparse.Namespace, settings: Settings) -> int:
    print(settings.postgres.dsn(Role(args.role)))
    return EXIT_OK


def _versions(args: argparse.Namespace, settings: Settings) -> int:
    from olist_pipeline.stack import jars

    for name, version in sorted(jars.pinned_versions().items()):
        print(f"{name:<20} {version}")
    return EXIT_OK


def _fetch(args: argparse.Namespace, settings: Settings) -> int:
    from olist_pipeline.stack import jars

    print(f"jars ready in {jars.ensure(settings)}")
    # Spark's Kafka source (live sales job): its own folder, see jars.spark_kafka_jars.
    print(f"spark-kafka jars ready in {jars.spark_kafka_jars(settings)[0].parent}")
    return EXIT_OK


def _ports(args: argparse.Namespace, settings: Settings) -> int:
    from olist_pipeline.config import PORT_DEFAULTS
    from olist_pipeline.stack.service import free_port_block

    env = settings.to_env()
    ports = {name: int(env[name]) for name in PORT_DEFAULTS}
    if args.free:
        ports = free_port_block(ports)
    for name, port in ports.items():
        print(f"export {name}={port}")
    return EXIT_OK
