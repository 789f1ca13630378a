"""What a layer still has to do, and the bookkeeping that records what it did.

Each layer keeps two things in ``audit`` (V026), written in the transaction
that publishes it:

- ``audit.layer_batches``: the raw batches it has taken in. For staging a raw
  batch is pending until staged (or when it was re-loaded since); for the
  warehouse and the marts a batch is pending once the layer below took it in.
- ``audit.layer_dirty``: the natural keys a layer changed, for the layer above
  to rebuild (staging marks orders, customers, sellers and products; the
  warehouse marks purchase days, sellers and customer states). Kind ``all``
  asks for a full rebuild. The layer above deletes the rows it consumed when
  it publishes.

A layer is rebuilt in full when asked (``--full-refresh``), when it has never
been built, or when the layer below marked ``all``; otherwise it rebuilds the
marked keys only, and does nothing at all (no Spark session) when nothing is
pending. See docs in ``staging``, ``warehouse`` and ``marts`` for how each one
turns marks into slices.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from psycopg import Connection, sql

from olist_pipeline.config import Role, Settings
from olist_pipeline.contracts.sources import TABLES
from olist_pipeline.db import connect

LAYERS = ("staging", "warehouse", "marts")
BELOW = {"warehouse": "staging", "marts": "warehouse"}
ALL = "all"


@dataclass(frozen=True)
class Plan:
    """One layer's work for one run.

    ``batches`` maps a raw table to the batches this run takes in (all of
    them for a full build); ``replaced`` holds staging batches re-loaded since
    they were staged (their table is rebuilt whole). ``dirty`` counts the
    keys marked by the layer below, per kind.
    """

    layer: str
    full: bool
    reason: str
    batches: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    replaced: frozenset[str] = frozenset()
    dirty: Mapping[str, int] = field(default_factory=dict)
    # Staging: the tables whose batches hold rows (a header-only file is only recorded).
    changed: frozenset[str] | None = None

    def rebuilds(self, table: str) -> bool:
        """Staging: whether ``table`` has rows to take in."""
        if self.full:
            return True
        if not self.batches.get(table):
            return False
        return self.changed is None or table in self.changed

    @property
    def noop(self) -> bool:
        """Nothing to take in: the layer is left as it is."""
        return not self.full and not any(self.batches.values()) and not self.dirty

    @property
    def needs_spark(self) -> bool:
        """Rows to rebuild (batches taken in without marks only need recording)."""
        if self.layer == "staging":
            return any(self.rebuilds(t) for t in TABLES)
        return self.full or bool(self.dirty)

    def describe(self) -> dict[str, Any]:
        return {
            "mode": "noop" if self.noop else ("full" if self.full else "increment"),
            "reason": self.reason,
            "batches": sum(len(b) for b in self.batches.values()),
            "dirty": dict(self.dirty),
        }


def plan(settings: Settings, layer: str, *, full_refresh: bool = False) -> Plan:
    """Read the layer's pending work (a few indexed queries; no Spark)."""
    with connect(settings, Role.TRANSFORMER, autocommit=True) as conn:
        built = conn.execute(
            "SELECT EXISTS (SELECT 1 FROM audit.layer_batches WHERE layer = %s)", (layer,)
        ).fetchone()
        ever_built = bool(built and built[0])
        if layer == "staging":
            return _plan_staging(conn, full_refresh, ever_built)
        below = BELOW[layer]
        pending = _group(
            conn.execute(
                "SELECT b.table_name, b.batch_id FROM audit.layer_batches b"
                " WHERE b.layer = %s AND NOT EXISTS (SELECT 1 FROM audit.layer_batches m"
                "  WHERE m.layer = %s AND m.table_name = b.table_name"
                "  AND m.batch_id = b.batch_id AND m.processed_at >= b.processed_at)"
                " ORDER BY 1, 2",
                (below, layer),
            ).fetchall()
        )
        dirty = dict(
            conn.execute(
                "SELECT kind, count(*) FROM audit.layer_dirty WHERE layer = %s GROUP BY kind",
                (layer,),
            ).fetchall()
        )
        everything = _group(
            conn.execute(
                "SELECT table_name, batch_id FROM audit.layer_batches WHERE layer = %s"
                " ORDER BY 1, 2",
                (below,),
            ).fetchall()
        )
    if full_refresh:
        return Plan(layer, True, "--full-refresh", everything, dirty=dirty)
    if not ever_built:
        return Plan(layer, True, "first build", everything, dirty=dirty)
    if ALL in dirty:
        why = f"{below} was rebuilt or changed a shared table"
        return Plan(layer, True, why, everything, dirty=dirty)
    return Plan(layer, False, "increment", pending, dirty=dirty)


def _plan_staging(conn: Connection[Any], full_refresh: bool, ever_built: bool) -> Plan:
    rows = conn.execute(
        "SELECT b.table_name, b.batch_id, l.batch_id IS NOT NULL,"
        " coalesce(b.loaded_rows, 1) > 0 FROM audit.batches b"
        " LEFT JOIN audit.layer_batches l ON l.layer = 'staging'"
        "  AND l.table_name = b.table_name AND l.batch_id = b.batch_id"
        " WHERE b.status = 'succeeded' AND (l.batch_id IS NULL OR b.finished_at > l.processed_at)"
        " ORDER BY 1, 2"
    ).fetchall()
    pending = _group((t, b) for t, b, _, _ in rows)
    # A re-loaded batch may have lost keys: its table is rebuilt whole.
    replaced = frozenset(t for t, _, seen, _ in rows if seen)
    changed = frozenset(t for t, _, seen, has_rows in rows if has_rows or seen)
    if full_refresh or not ever_built:
        everything = _group(
            conn.execute(
                "SELECT table_name, batch_id FROM audit.batches WHERE status = 'succeeded'"
                " ORDER BY 1, 2"
            ).fetchall()
        )
        why = "--full-refresh" if full_refresh else "first build"
        return Plan("staging", True, why, everything)
    return Plan("staging", False, "increment", pending, replaced, changed=changed)


def _group(rows: Iterable[tuple[str, str]]) -> dict[str, tuple[str, ...]]:
    out: dict[str, list[str]] = {}
    for table, batch in rows:
        out.setdefault(table, []).append(batch)
    return {t: tuple(out[t]) for t in TABLES if t in out}


def record_batches(conn: Connection[Any], p: Plan, run_id: str) -> None:
    """Inside the publish transaction: the plan's batches are now taken in."""
    if p.full:
        conn.execute("DELETE FROM audit.layer_batches WHERE layer = %s", (p.layer,))
    rows = [(p.layer, t, b, run_id) for t, batches in p.batches.items() for b in batches]
    if not rows:
        return
    with conn.cursor() as cur:
        # No UPDATE grant: a re-loaded batch's row is replaced.
        cur.executemany(
            "DELETE FROM audit.layer_batches WHERE layer = %s AND table_name = %s"
            " AND batch_id = %s",
            [r[:3] for r in rows],
        )
        cur.executemany(
            "INSERT INTO audit.layer_batches (layer, table_name, batch_id, run_id)"
            " VALUES (%s, %s, %s, %s)",
            rows,
        )


def consume_dirty(conn: Connection[Any], layer: str) -> None:
    """Inside the publish transaction: the marks this layer rebuilt are done."""
    conn.execute("DELETE FROM audit.layer_dirty WHERE layer = %s", (layer,))


def mark(
    conn: Connection[Any],
    layer: str,
    kind: str,
    keys: sql.SQL | sql.Composed,
    *,
    run_id: str,
    params: Iterable[Any] = (),
) -> None:
    """Mark the keys selected by ``keys`` (one text column) for ``layer`` to rebuild."""
    conn.execute(
        sql.SQL(
            "INSERT INTO audit.layer_dirty (layer, kind, key, run_id)"
            " SELECT DISTINCT {}, {}, k::text, {} FROM ({}) AS m(k) WHERE k IS NOT NULL"
            " ON CONFLICT DO NOTHING"
        ).format(sql.Literal(layer), sql.Literal(kind), sql.Literal(run_id), keys),
        tuple(params),
    )


def mark_all(conn: Connection[Any], layer: str, run_id: str) -> None:
    """Ask ``layer`` for a full rebuild (the marks it had are covered by it)."""
    conn.execute("DELETE FROM audit.layer_dirty WHERE layer = %s", (layer,))
    conn.execute(
        "INSERT INTO audit.layer_dirty (layer, kind, key, run_id) VALUES (%s, %s, %s, %s)",
        (layer, ALL, ALL, run_id),
    )


def dirty_keys(settings: Settings, layer: str, kind: str) -> list[str]:
    with connect(settings, Role.TRANSFORMER, autocommit=True) as conn:
        return [
            r[0]
            for r in conn.execute(
                "SELECT key FROM audit.layer_dirty WHERE layer = %s AND kind = %s ORDER BY key",
                (layer, kind),
            ).fetchall()
        ]


Totals = dict[str, dict[str, Decimal]]


def read_totals(settings: Settings, layer: str) -> Totals:
    with connect(settings, Role.TRANSFORMER, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT table_name, metric, value FROM audit.layer_totals WHERE layer = %s", (layer,)
        ).fetchall()
    out: Totals = {}
    for table, metric, value in rows:
        out.setdefault(table, {})[metric] = value
    return out


def write_totals(
    conn: Connection[Any], layer: str, run_id: str, totals: Mapping[str, Mapping[str, Any]]
) -> None:
    """Inside the publish transaction: the layer's cumulative numbers after this run."""
    conn.execute("DELETE FROM audit.layer_totals WHERE layer = %s", (layer,))
    rows = [
        (layer, table, metric, Decimal(str(value)), run_id)
        for table, metrics in totals.items()
        for metric, value in metrics.items()
    ]
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO audit.layer_totals (layer, table_name, metric, value, run_id)"
            " VALUES (%s, %s, %s, %s, %s)",
            rows,
        )
