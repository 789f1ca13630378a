"""Source -> raw reconciliation over the ingest's manifest (audit.batches, audit.quarantine).

The loader records, per batch, the records in the file (``source_rows``) and
writes bad records to ``audit.quarantine``. These checks recount what is
actually there: every source record is in raw or in quarantine, so rows lost
or added after the load (or a manifest that lies) close the gate.
"""

from __future__ import annotations

from typing import Any

import psycopg

from olist_pipeline.contracts.sources import TABLES
from olist_pipeline.dq import checks as k
from olist_pipeline.dq.model import Check, Severity, literal, qualified


def run_batches(conn: psycopg.Connection[Any], run_id: str) -> dict[str, tuple[str, ...]] | None:
    """Succeeded batches the run loaded, per raw table (None without a manifest)."""
    found = conn.execute("SELECT to_regclass('audit.batches') IS NOT NULL").fetchone()
    if not found or not found[0]:
        return None
    rows = conn.execute(
        "SELECT table_name, array_agg(batch_id ORDER BY batch_id) FROM audit.batches"
        " WHERE run_id = %s AND status = 'succeeded' GROUP BY table_name",
        (run_id,),
    ).fetchall()
    return {table: tuple(batches) for table, batches in rows}


def raw_checks(scope: Any) -> list[Check]:
    batches: dict[str, tuple[str, ...]] = scope.raw_batches or {}
    out: list[Check] = []
    for table in TABLES:
        in_run = batches.get(table)
        if in_run:
            listed = ", ".join(literal(b) for b in in_run)
            batch_filter, manifest_filter = f"_batch_id IN ({listed})", f"batch_id IN ({listed})"
        else:
            # Not loaded by this run: every batch the table holds.
            batch_filter = "true"
            manifest_filter = "status = 'succeeded'"
        t = literal(table)
        source = (
            "SELECT sum(source_rows) FROM audit.batches "
            f"WHERE table_name = {t} AND {manifest_filter}"
        )
        quarantined = (
            "SELECT count(*) FROM audit.quarantine q WHERE q.table_name = "
            f"{t} AND q.batch_id IN (SELECT batch_id FROM audit.batches "
            f"WHERE table_name = {t} AND {manifest_filter})"
        )
        loaded = f"SELECT count(*) FROM {qualified('raw.' + table)} WHERE {batch_filter}"
        out.append(
            k.reconcile(
                "raw",
                f"raw.{table}",
                "row_count_vs_source",
                "source records",
                source,
                "raw rows + quarantined",
                f"SELECT ({loaded}) + ({quarantined})",
                what="source records unaccounted for",
            )
        )
        out.append(
            k.scalar(
                "raw",
                f"raw.{table}",
                "quarantined_rows",
                f"SELECT ({quarantined}), (SELECT string_agg(reason || ': ' || n, ', ') FROM "
                f"(SELECT q.reason, count(*) AS n FROM audit.quarantine q WHERE q.table_name = {t} "
                f"AND q.batch_id IN (SELECT batch_id FROM audit.batches WHERE table_name = {t} "
                f"AND {manifest_filter}) GROUP BY q.reason) AS r)",
                "source records quarantined",
                severity=Severity.WARN,
                quirk=False,
            )
        )
    run = literal(scope.run_id)
    out.append(
        k.scalar(
            "raw",
            "audit.batches",
            "failed_batches",
            "SELECT count(*), string_agg(table_name || ': ' || coalesce(error, 'failed'), '; ') "
            f"FROM audit.batches WHERE run_id = {run} AND status = 'failed'",
            "batches of this run that failed",
            severity=Severity.ERROR,
            quirk=False,
        )
    )
    return out
