"""Who may do what to which table: the one declaration of the database's privileges.

The migrations grant; this module says what they must amount to.
``tests/integration/test_privileges.py`` checks it against a migrated server
both ways (every listed privilege works, every other one is refused with
SQLSTATE 42501) and fails on any table of a layer schema that is not listed
here, so a new table cannot arrive without a decision on who writes it. The
README's role table is rendered from it (``python -m olist_pipeline.db.privileges
--write README.md`` refreshes it; a unit test keeps the README in step).

Owners hold every privilege on their tables; they are listed as such, and the
test checks them like any grant.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from olist_pipeline.contracts.sources import TABLES as SOURCE_TABLES
from olist_pipeline.contracts.tables import MARTS_TABLES, STAGING_TABLES, WAREHOUSE_TABLES

PRIVILEGES: tuple[str, ...] = ("SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE")
SCHEMAS: tuple[str, ...] = ("raw", "staging", "warehouse", "marts", "audit")

# Group roles (admin, the migration's superuser, is excluded: it may do anything).
ROLES: Mapping[str, str] = {
    "olist_loader": "ingest: loads source files into raw, records batches and quarantine",
    "olist_transformer": "Spark transform: rebuilds staging, warehouse and marts",
    "olist_quality": "DQ gates and the stream/batch parity check; reads every layer",
    "olist_stream": "stream consumers: append events, store Kafka offsets",
    "olist_reader": "dashboards, metrics publish, run checks: reads, never writes",
    "olist_audit_writer": "no login: owns the functions that write audit.step_runs",
}

Grants = Mapping[str, frozenset[str]]

ALL = frozenset(PRIVILEGES)
READ = frozenset({"SELECT"})


def _p(spec: str) -> frozenset[str]:
    out = frozenset(spec.split())
    unknown = out - ALL
    if unknown:
        raise ValueError(f"unknown privileges {sorted(unknown)}")
    return out


@dataclass(frozen=True)
class Rule:
    """The grants every table of a group gets; roles not named get nothing."""

    grants: Grants
    why: str


RAW = Rule(
    {"olist_loader": ALL, "olist_transformer": READ, "olist_quality": READ},
    "loader owns raw (creates a partition per batch); transform and DQ read it",
)
BUILT = Rule(
    {"olist_transformer": ALL, "olist_quality": READ, "olist_reader": READ},
    "transformer owns what it rebuilds (swaps tables); DQ and readers read",
)
STREAM_EVENTS = Rule(
    {"olist_stream": _p("SELECT INSERT"), "olist_quality": READ, "olist_reader": READ},
    "append-only event log (ON CONFLICT DO NOTHING); parity reads it",
)

# The live sales job (V042) runs as the stream role inside the transformer's marts.
LIVE_STATE = Rule(
    {**BUILT.grants, "olist_stream": _p("SELECT INSERT UPDATE")},
    "live sales job's running totals (upserted per micro-batch)",
)
LIVE_LOG = Rule(
    {**BUILT.grants, "olist_stream": _p("SELECT INSERT")},
    "live sales job's ledgers: applied event ids, batch ids, late events (append-only)",
)
# The live job splits sales per state through the customers.
STAGING_CUSTOMERS = Rule(
    {**BUILT.grants, "olist_stream": READ},
    "as the other staging tables; the live sales job reads it for the per-state split",
)


def _audit(why: str, **writers: str) -> Rule:
    grants: dict[str, frozenset[str]] = {"olist_reader": READ}
    for role, spec in writers.items():
        grants[f"olist_{role}"] = _p(spec)
    return Rule(grants, why)


MATRIX: Mapping[str, Rule] = {
    **{f"raw.{t}": RAW for t in SOURCE_TABLES},
    **{f"staging.{t}": BUILT for t in STAGING_TABLES if t != "customers"},
    "staging.customers": STAGING_CUSTOMERS,
    "staging.order_events": STREAM_EVENTS,
    "staging.payment_events": STREAM_EVENTS,
    **{f"warehouse.{t}": BUILT for t in WAREHOUSE_TABLES},
    **{f"marts.{t}": BUILT for t in MARTS_TABLES},
    **{
        f"marts.{t}": LIVE_STATE
        for t in ("live_sales_minute", "live_sales_state_minute", "live_order_state")
    },
    **{f"marts.{t}": LIVE_LOG for t in ("live_events_applied", "live_batches", "live_late_events")},
    "audit.batches": _audit(
        "manifest: an upsert turns a failed batch into a succeeded one, never deletes;"
        " the transformer reads what is pending",
        loader="SELECT INSERT UPDATE",
        transformer="SELECT",
        quality="SELECT",
    ),
    "audit.layer_batches": _audit(
        "batches a layer has taken in: an increment adds, a full refresh replaces",
        transformer="SELECT INSERT DELETE",
        quality="SELECT",
    ),
    "audit.layer_dirty": _audit(
        "keys the layer above must rebuild: consumed (deleted) when it publishes",
        transformer="SELECT INSERT DELETE",
        quality="SELECT",
    ),
    "audit.layer_totals": _audit(
        "cumulative numbers of a layer's increments, updated as it publishes",
        transformer="SELECT INSERT UPDATE DELETE",
        quality="SELECT",
    ),
    "audit.quarantine": _audit(
        "a re-load replaces its batch's rows; rows are never edited",
        loader="SELECT INSERT DELETE",
        quality="SELECT",
    ),
    "audit.transform_stats": _audit(
        "a re-run replaces its run and layer",
        transformer="SELECT INSERT DELETE",
        quality="SELECT",
    ),
    "audit.dq_results": _audit(
        "a re-run replaces its run and layer",
        quality="SELECT INSERT DELETE",
    ),
    "audit.parity_results": _audit(
        "a re-run replaces its run",
        quality="SELECT INSERT DELETE",
    ),
    "audit.stream_offsets": _audit(
        "the upsert only moves an offset forward; exactly-once rests on it",
        stream="SELECT INSERT UPDATE",
    ),
    "audit.step_runs": _audit(
        "only through audit.step_started / audit.step_finished (each step its own row)",
        audit_writer="SELECT INSERT UPDATE",
    ),
    "audit.schema_migrations": Rule({}, "the migration runner's ledger (admin only)"),
}

# Default privileges: what a table created later in a schema by its usual
# creator gets, before its migration grants anything.
DEFAULTS: Mapping[tuple[str, str], Grants] = {
    ("raw", "olist_loader"): RAW.grants,
    ("staging", "olist_transformer"): BUILT.grants,
    ("warehouse", "olist_transformer"): BUILT.grants,
    ("marts", "olist_transformer"): BUILT.grants,
    # Created by the migration's admin; "" stands for that role.
    ("audit", ""): {"olist_reader": READ},
}

# Who may record which steps in audit.step_runs (first dotted part of the step).
STEP_OWNERS: Mapping[str, str] = {
    "ingest": "olist_loader",
    "transform": "olist_transformer",
    "dq": "olist_quality",
    "parity": "olist_quality",
    "stream": "olist_stream",
}


def expected(table: str, role: str) -> frozenset[str]:
    return MATRIX[table].grants.get(role, frozenset())


def _cell(privs: frozenset[str]) -> str:
    if privs == ALL:
        return "all"
    return ", ".join(p.lower() for p in PRIVILEGES if p in privs) or "-"


def render_markdown() -> str:
    """The README's role table: one row per group of tables that share their grants."""
    roles = [r for r in ROLES if r != "olist_audit_writer"]
    rows: list[tuple[list[str], Rule]] = []
    for table, rule in MATRIX.items():
        schema = table.split(".")[0]
        for names, existing in rows:
            if existing is rule and names[0].startswith(f"{schema}."):
                names.append(table)
                break
        else:
            rows.append(([table], rule))
    header = "| tables | " + " | ".join(f"`{r.removeprefix('olist_')}`" for r in roles) + " | why |"
    lines = [header, "|" + "---|" * (len(roles) + 2)]
    for names, rule in rows:
        schema = names[0].split(".")[0]
        label = (
            f"{len(names)} tables of `{schema}`"
            if len(names) > 2
            else ", ".join(f"`{n}`" for n in names)
        )
        cells = [_cell(rule.grants.get(r, frozenset())) for r in roles]
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {rule.why} |")
    return "\n".join(lines) + "\n"


BEGIN, END = "<!-- privileges:begin -->", "<!-- privileges:end -->"


def with_table(readme: str) -> str:
    """``readme`` with the rendered table between its markers."""
    head, found, rest = readme.partition(BEGIN)
    _, found_end, tail = rest.partition(END)
    if not (found and found_end):
        raise ValueError(f"the README has no {BEGIN} ... {END} block")
    return f"{head}{BEGIN}\n{render_markdown()}{END}{tail}"


def main(argv: list[str] | None = None) -> int:
    """Print the table, or ``--write README.md`` to refresh the README's copy."""
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["--write"] and len(args) == 2:
        path = Path(args[1])
        path.write_text(with_table(path.read_text("utf-8")), "utf-8")
        return 0
    if args:
        sys.stderr.write("usage: python -m olist_pipeline.db.privileges [--write README.md]\n")
        return 2
    sys.stdout.write(render_markdown())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
