"""The one way a step records itself in ``audit.step_runs``.

No component may write that table directly (V060): two SECURITY DEFINER
functions do it for them, and only for the caller's own steps (the step's
first dotted part names the component: ``transform.*`` for the transformer,
``dq.*`` and ``parity.*`` for quality, ``ingest.*`` for the loader,
``stream.*`` for the stream role). So a batch step cannot rewrite the DQ
gate's record, nor any step a row it did not open.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import psycopg

from olist_pipeline.logs import get_logger

log = get_logger(__name__)


def step_started(conn: psycopg.Connection[Any], run_id: str, step: str) -> int:
    """Open (or re-open, on a retry) the step's row as running; returns its attempt number."""
    row = conn.execute("SELECT audit.step_started(%s, %s)", (run_id, step)).fetchone()
    return int((row or (1,))[0])


def step_finished(
    conn: psycopg.Connection[Any],
    run_id: str,
    step: str,
    status: str,
    *,
    rows_in: int | None = None,
    rows_out: int | None = None,
    detail: Mapping[str, Any] | None = None,
) -> bool:
    """Close the step's running row; False (and a warning) when it had none open."""
    row = conn.execute(
        "SELECT audit.step_finished(%s, %s, %s, %s, %s, %s::jsonb)",
        (run_id, step, status, rows_in, rows_out, json.dumps(dict(detail or {}), default=str)),
    ).fetchone()
    closed = bool(row and row[0])
    if not closed:
        # Another attempt re-opened or closed it meanwhile: its record stands.
        log.warning("step_run_not_open", run_id=run_id, step=step, status=status)
    return closed
