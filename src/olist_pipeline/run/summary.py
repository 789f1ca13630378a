"""The end-of-run summary: what each layer holds, what the gates said, the business.

Built from the database (as the read-only role) plus what the run itself
measured (events produced, step times), kept as plain data (written to a
JSON file next to the report) and rendered as rich tables.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from decimal import Decimal
from typing import Any

import psycopg
from psycopg import sql
from rich.console import Console
from rich.table import Table

from olist_pipeline.config import Role, Settings
from olist_pipeline.db import connect
from olist_pipeline.report.figures import headline

LAYERS = ("raw", "staging", "warehouse", "marts")


@dataclass
class Summary:
    run_id: str
    data_origin: str
    rows: dict[str, dict[str, int]] = field(default_factory=dict)  # layer -> table -> rows
    quarantined: int = 0
    dq: dict[str, int] = field(default_factory=dict)  # passed / failed / warned
    events: dict[str, dict[str, int]] = field(default_factory=dict)  # stream -> figures
    parity: dict[str, Any] = field(default_factory=dict)
    steps: list[dict[str, Any]] = field(default_factory=list)
    business: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        plain: dict[str, Any] = _plain(asdict(self))
        return plain


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _count(conn: psycopg.Connection[Any], query: Any) -> int:
    row = conn.execute(query).fetchone()
    return int(row[0]) if row else 0


def table_rows(conn: psycopg.Connection[Any]) -> dict[str, dict[str, int]]:
    tables = conn.execute(
        "SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = ANY(%s) AND c.relkind IN ('r', 'p') AND NOT c.relispartition"
        " AND c.relname NOT LIKE '%%\\_\\_%%' ORDER BY 1, 2",
        (list(LAYERS),),
    ).fetchall()
    out: dict[str, dict[str, int]] = {layer: {} for layer in LAYERS}
    for schema, name in tables:
        count = conn.execute(
            sql.SQL("SELECT count(*) FROM {}.{}").format(
                sql.Identifier(schema), sql.Identifier(name)
            )
        ).fetchone()
        out[schema][name] = int(count[0]) if count else 0
    return out


def collect(
    settings: Settings,
    run_id: str,
    data_origin: str,
    *,
    produced: dict[str, Any] | None = None,
    stored: dict[str, int] | None = None,
    dead_lettered: dict[str, int] | None = None,
    steps: list[dict[str, Any]] | None = None,
) -> Summary:
    s = Summary(run_id=run_id, data_origin=data_origin, steps=list(steps or []))
    # The quality role reads every layer and the audit trail (the reader never sees raw).
    with connect(settings, Role.QUALITY) as conn:
        s.rows = table_rows(conn)
        q = conn.execute(
            "SELECT count(*) FROM audit.quarantine q"
            " JOIN audit.batches b USING (table_name, batch_id) WHERE b.status = 'succeeded'"
        ).fetchone()
        s.quarantined = int(q[0]) if q else 0
        dq = conn.execute(
            "SELECT count(*) FILTER (WHERE passed),"
            " count(*) FILTER (WHERE NOT passed AND severity = 'error'),"
            " count(*) FILTER (WHERE NOT passed AND severity = 'warn')"
            " FROM audit.dq_results WHERE run_id = %s",
            (run_id,),
        ).fetchone() or (0, 0, 0)
        s.dq = {"passed": int(dq[0]), "failed": int(dq[1]), "warned": int(dq[2])}
        p = conn.execute(
            "SELECT count(DISTINCT day), count(DISTINCT day) FILTER (WHERE NOT passed),"
            " coalesce(max(relative_diff), 0) FROM audit.parity_results WHERE run_id = %s",
            (run_id,),
        ).fetchone() or (0, 0, 0.0)
        s.parity = {
            "days": int(p[0]),
            "days_failed": int(p[1]),
            "max_relative_diff": float(p[2]),
            "passed": int(p[0]) > 0 and int(p[1]) == 0,
        }
        h = headline(conn)
    if stored is None:
        from olist_pipeline.stream.progress import stored_events

        stored = stored_events(settings, Role.QUALITY)
    for stream, n in stored.items():
        figures = (produced or {}).get("streams", {}).get(stream, {})
        s.events[stream] = {
            "produced": int(figures.get("valid", 0)),
            "stored": n,
            "dead_lettered": int((dead_lettered or {}).get(stream, 0)),
        }
    s.business = {
        "gmv": h.gmv,
        "orders": h.orders,
        "aov": h.aov,
        "top_states": h.top_states,
        "top_categories": h.top_categories,
        "rfm_segments": h.rfm_segments,
        "best_sellers": h.best_sellers,
        "worst_sellers": h.worst_sellers,
    }
    return s


def render(summary: Summary, console: Console) -> None:
    layers = Table(title="Rows per layer", title_justify="left")
    layers.add_column("layer")
    layers.add_column("tables", justify="right")
    layers.add_column("rows", justify="right")
    layers.add_column("largest tables")
    for layer in LAYERS:
        tables = summary.rows.get(layer, {})
        big = sorted(tables.items(), key=lambda kv: -kv[1])[:4]
        layers.add_row(
            layer,
            str(len(tables)),
            f"{sum(tables.values()):,}",
            ", ".join(f"{t} {n:,}" for t, n in big),
        )
    console.print(layers)

    gates = Table(title="Quality, stream and parity", title_justify="left")
    gates.add_column("what")
    gates.add_column("result")
    gates.add_row("quarantined source rows", f"{summary.quarantined:,}")
    gates.add_row(
        "DQ checks",
        f"{summary.dq.get('passed', 0)} passed, {summary.dq.get('failed', 0)} failed (error), "
        f"{summary.dq.get('warned', 0)} warnings",
    )
    for stream, ev in summary.events.items():
        gates.add_row(
            f"{stream} events",
            f"produced {ev['produced']:,}, stored {ev['stored']:,}, "
            f"dead-lettered {ev['dead_lettered']:,}",
        )
    p = summary.parity
    gates.add_row(
        "batch/stream parity",
        ("passed" if p.get("passed") else "FAILED")
        + f" over {p.get('days', 0)} days ({p.get('days_failed', 0)} differ,"
        f" max relative diff {p.get('max_relative_diff', 0):.4f})",
    )
    console.print(gates)

    steps = Table(title="Wall time per step", title_justify="left")
    steps.add_column("step")
    steps.add_column("seconds", justify="right")
    steps.add_column("status")
    for st in summary.steps:
        steps.add_row(st["name"], f"{st['seconds']:.1f}", st["status"])
    console.print(steps)

    b = summary.business
    biz = Table(title="Business", title_justify="left")
    biz.add_column("figure")
    biz.add_column("value")
    biz.add_row("GMV", f"R$ {b['gmv']:,.2f}")
    biz.add_row("orders", f"{b['orders']:,}")
    biz.add_row("average order value", f"R$ {b['aov']:,.2f}")
    biz.add_row("top states", ", ".join(f"{s} R$ {g:,.0f}" for s, g in b["top_states"]))
    biz.add_row("top categories", ", ".join(f"{c} R$ {g:,.0f}" for c, g in b["top_categories"]))
    biz.add_row("RFM segments", ", ".join(f"{seg} {n:,}" for seg, n in b["rfm_segments"]))
    biz.add_row(
        "best sellers (GMV)", ", ".join(f"{sid[:8]} R$ {g:,.0f}" for sid, g, _ in b["best_sellers"])
    )
    biz.add_row(
        "lowest-rated sellers",
        ", ".join(f"{sid[:8]} {r:.2f}" for sid, _, r in b["worst_sellers"] if r is not None) or "-",
    )
    console.print(biz)
