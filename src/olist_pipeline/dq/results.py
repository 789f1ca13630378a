"""What the gates recorded for a run, read back from ``audit.dq_results``."""

from __future__ import annotations

from olist_pipeline.config import Role, Settings
from olist_pipeline.db import connect


def failed_checks(settings: Settings, run_id: str) -> list[str]:
    """Error-severity DQ failures recorded for this run, as one line each."""
    with connect(settings, Role.READER) as conn:
        rows = conn.execute(
            "SELECT layer, table_name, check_name, observed, expected, message"
            " FROM audit.dq_results WHERE run_id = %s AND NOT passed AND severity = 'error'"
            " ORDER BY checked_at, layer, table_name, check_name",
            (run_id,),
        ).fetchall()
    return [
        r[5] or f"{r[0]}.{r[1]}: {r[2]} failed: observed {r[3]} (expected {r[4]})" for r in rows
    ]
