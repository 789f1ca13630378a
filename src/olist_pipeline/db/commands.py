"""``olist db migrate | status``."""

from __future__ import annotations

import argparse
from typing import Any

from olist_pipeline.config import Settings
from olist_pipeline.errors import EXIT_OK


def register(sub: Any) -> None:
    db = sub.add_parser("db", help="database schema migrations")
    dsub = db.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    dsub.add_parser(
        "migrate", help="apply pending migrations (idempotent) and attach component logins"
    ).set_defaults(func=_migrate)
    dsub.add_parser("status", help="list migrations and whether each is applied").set_defaults(
        func=_status
    )


def _migrate(args: argparse.Namespace, settings: Settings) -> int:
    from olist_pipeline.db.migrate import migrate

    applied = migrate(settings)
    print(
        f"migrated {settings.postgres.database}: "
        + (f"applied {', '.join(applied)}" if applied else "already up to date")
    )
    return EXIT_OK


def _status(args: argparse.Namespace, settings: Settings) -> int:
    from olist_pipeline.db.migrate import status

    for version, name, applied in status(settings):
        print(f"V{version}  {'applied' if applied else 'pending':<8} {name}")
    return EXIT_OK
