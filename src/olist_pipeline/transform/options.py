"""Command-line options shared by ``olist transform`` and the ``spark-apps/<layer>.py`` jobs."""

from __future__ import annotations

import argparse


def _flag(text: str) -> bool:
    value = text.strip().lower()
    if value in ("true", "1", "yes"):
        return True
    if value in ("false", "0", "no", ""):
        return False
    raise argparse.ArgumentTypeError(f"{text!r} is not true or false")


def add_full_refresh(p: argparse.ArgumentParser) -> None:
    """``--full-refresh`` alone, or ``--full-refresh=true|false`` (what a DAG renders from its
    ``full_refresh`` param: an argv element cannot be left out by a template)."""
    p.add_argument(
        "--full-refresh",
        nargs="?",
        const=True,
        default=False,
        type=_flag,
        metavar="BOOL",
        help="rebuild the layer(s) from everything below instead of the increment",
    )
