"""Checks that a layer took in everything below it (the increment left nothing behind).

Each layer records the raw batches it took in (``audit.layer_batches``) and
the layer above consumes the keys it marked (``audit.layer_dirty``), see
``olist_pipeline.transform.incremental``. After a layer's build nothing may be
pending for it: a batch the manifest lists as loaded but staging never took
in, or a mark the warehouse left unconsumed, means an increment was lost. A
layer never built by the transform (no row of its own) is not judged.
"""

from __future__ import annotations

from olist_pipeline.dq import checks as k
from olist_pipeline.dq.model import Check, Severity, literal

BELOW = {"warehouse": "staging", "marts": "warehouse"}


def _pending(layer: str) -> str:
    built = f"EXISTS (SELECT 1 FROM audit.layer_batches WHERE layer = {literal(layer)})"
    if layer == "staging":
        return (
            "(SELECT b.table_name || '/' || b.batch_id AS what FROM audit.batches b"
            " LEFT JOIN audit.layer_batches l ON l.layer = 'staging'"
            "  AND l.table_name = b.table_name AND l.batch_id = b.batch_id"
            " WHERE b.status = 'succeeded'"
            "  AND (l.batch_id IS NULL OR b.finished_at > l.processed_at)"
            f"  AND {built})"
        )
    below = literal(BELOW[layer])
    return (
        "(SELECT b.table_name || '/' || b.batch_id AS what FROM audit.layer_batches b"
        f" WHERE b.layer = {below} AND {built} AND NOT EXISTS (SELECT 1 FROM audit.layer_batches m"
        f"  WHERE m.layer = {literal(layer)} AND m.table_name = b.table_name"
        "  AND m.batch_id = b.batch_id AND m.processed_at >= b.processed_at)"
        " UNION ALL SELECT 'mark ' || kind || '=' || key FROM audit.layer_dirty"
        f" WHERE layer = {literal(layer)} AND {built})"
    )


def increment_suite(layer: str) -> list[Check]:
    """One check per layer: nothing below it is left pending once it is built."""
    if layer not in ("staging", "warehouse", "marts"):
        return []
    return [
        k.count_where(
            layer,
            "audit.layer_batches",
            _pending(layer),
            f"{layer}_caught_up",
            "true",
            f"batches or marks {layer} has not taken in",
            severity=Severity.ERROR,
            quirk=False,
            example="t.what",
        )
    ]
