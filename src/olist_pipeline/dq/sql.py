"""SQL fragments the layer suites share: raw text read as its type, and raw rows as
staging sees them. Below both ``suites`` (raw and staging) and ``warehouse_checks``
(warehouse and marts), which each take them from here.
"""

from __future__ import annotations

from olist_pipeline.contracts.sources import contract_for
from olist_pipeline.dq.model import ident, literal, qualified

NUMERIC = r"^-?[0-9]+(\.[0-9]+)?$"


def raw_current(table: str) -> str:
    """What staging is built from: every raw batch, one row per natural key, newest wins."""
    c = contract_for(table)
    rel = qualified(f"raw.{table}")
    if not c.primary_key:
        return rel
    key = ", ".join(ident(col) for col in c.primary_key)
    not_null = " AND ".join(f"btrim({ident(col)}) <> ''" for col in c.primary_key)
    # Versions ordered as staging orders them: the data interval a batch holds, else its load time.
    version = (
        "coalesce((SELECT b.data_interval_start FROM audit.batches b"
        f" WHERE b.table_name = {literal(table)} AND b.batch_id = r._batch_id), r._loaded_at)"
    )
    return (
        f"(SELECT DISTINCT ON ({key}) * FROM {rel} r WHERE {not_null} "
        f"ORDER BY {key}, {version} DESC, _batch_id DESC, _row_number)"
    )


def money(expr: str) -> str:
    """A raw text money value as numeric (NULL where it is not a number)."""
    return f"CASE WHEN {expr} ~ {literal(NUMERIC)} THEN ({expr})::numeric END"
