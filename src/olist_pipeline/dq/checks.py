"""Check kinds: each factory turns a declaration into one pushed-down SQL query.

``rel`` is anything that may follow FROM (a table, or a parenthesised
subquery such as the raw rows of one run's batches); ``table`` is the name
the results and messages use. Every query returns one row
``(observed, detail)``; detail carries a few examples for the message.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from decimal import Decimal

from olist_pipeline.dq.model import Check, Op, Severity, ident, literal

_EXAMPLES = 3


def _cols(columns: Sequence[str], alias: str = "") -> str:
    prefix = f"{alias}." if alias else ""
    return ", ".join(prefix + ident(c) for c in columns)


def _all_not_null(columns: Sequence[str], alias: str = "") -> str:
    prefix = f"{alias}." if alias else ""
    return " AND ".join(f"{prefix}{ident(c)} IS NOT NULL" for c in columns)


def _key_text(columns: Sequence[str], alias: str = "") -> str:
    prefix = f"{alias}." if alias else ""
    return "concat_ws('/', " + ", ".join(f"{prefix}{ident(c)}::text" for c in columns) + ")"


def row_count(
    layer: str, table: str, rel: str, *, minimum: int = 1, severity: Severity = Severity.ERROR
) -> Check:
    return Check(
        layer=layer,
        table=table,
        name="row_count",
        severity=severity,
        sql=f"SELECT count(*), NULL FROM {rel} AS t",
        what="rows",
        expected=Decimal(minimum),
        op=Op.GE,
    )


def unique(
    layer: str,
    table: str,
    rel: str,
    columns: Sequence[str],
    *,
    per: Sequence[str] = (),
    severity: Severity = Severity.ERROR,
    name: str | None = None,
    quirk: bool = False,
) -> Check:
    """Surplus rows on a key: rows minus distinct keys (rows staging would drop).

    ``per`` scopes uniqueness, e.g. per raw batch (raw is append-only, so the
    same key legitimately appears once in each batch).
    """
    group = [*per, *columns]
    sql = (
        f"SELECT coalesce(sum(n - 1), 0), "
        f"'e.g. ' || string_agg(k, ', ' ORDER BY n DESC, k) FILTER (WHERE rn <= {_EXAMPLES}) "
        f"FROM (SELECT {_key_text(columns)} AS k, count(*) AS n, "
        f"row_number() OVER (ORDER BY count(*) DESC) AS rn "
        f"FROM {rel} AS t WHERE {_all_not_null(columns)} "
        f"GROUP BY {_cols(group)} HAVING count(*) > 1) AS d"
    )
    return Check(
        layer=layer,
        table=table,
        name=name or f"unique({','.join(columns)})",
        severity=severity,
        sql=sql,
        what="duplicate keys",
        quirk=quirk,
    )


def per_column(  # noqa: PLR0917 (declarations read like table rows)
    layer: str,
    table: str,
    rel: str,
    name: str,
    what: str,
    conditions: dict[str, str],
    severity: Severity,
) -> Check:
    """Count rows matching a condition per column in one scan; detail names the columns."""
    if not conditions:
        raise ValueError(f"{table}: {name} needs at least one column")
    aliases = {col: f"c{i}" for i, col in enumerate(conditions)}
    counts = ", ".join(
        f"count(*) FILTER (WHERE {cond}) AS {aliases[col]}" for col, cond in conditions.items()
    )
    total = " + ".join(aliases.values())
    parts = ", ".join(
        f"CASE WHEN {a} > 0 THEN {literal(col + ': ')} || {a} END" for col, a in aliases.items()
    )
    sql = (
        f"SELECT {total}, NULLIF(concat_ws(', ', {parts}), '') "
        f"FROM (SELECT {counts} FROM {rel} AS t) AS s"
    )
    return Check(layer=layer, table=table, name=name, severity=severity, sql=sql, what=what)


def not_null(
    layer: str,
    table: str,
    rel: str,
    columns: Sequence[str],
    *,
    blank_is_null: bool = False,
    severity: Severity = Severity.ERROR,
) -> Check:
    """Nulls in required columns (raw text: an empty or blank value counts as null)."""

    def cond(c: str) -> str:
        col = ident(c)
        return f"{col} IS NULL OR btrim({col}) = ''" if blank_is_null else f"{col} IS NULL"

    return per_column(
        layer, table, rel, "not_null", "null values", {c: cond(c) for c in columns}, severity
    )


def formats(
    layer: str,
    table: str,
    rel: str,
    patterns: dict[str, str],
    *,
    severity: Severity = Severity.WARN,
) -> Check:
    """Non-empty values that do not match their column's pattern (raw text vs contract type)."""
    conditions = {
        c: f"{ident(c)} IS NOT NULL AND btrim({ident(c)}) <> '' AND {ident(c)} !~ {literal(p)}"
        for c, p in patterns.items()
    }
    return per_column(layer, table, rel, "format", "malformed values", conditions, severity)


def accepted_values(
    layer: str,
    table: str,
    rel: str,
    column: str,
    values: Iterable[str],
    *,
    severity: Severity = Severity.ERROR,
) -> Check:
    accepted = ", ".join(literal(v) for v in values)
    col = f"t.{ident(column)}::text"
    sql = (
        f"SELECT count(*), 'found ' || string_agg(DISTINCT {col}, ', ') "
        f"FROM {rel} AS t WHERE {col} IS NOT NULL AND btrim({col}) <> '' "
        f"AND {col} NOT IN ({accepted})"
    )
    return Check(
        layer=layer,
        table=table,
        name=f"accepted_values({column})",
        severity=severity,
        sql=sql,
        what="rows with values outside the accepted set",
    )


def relationship(  # noqa: PLR0917 (declarations read like table rows)
    layer: str,
    table: str,
    rel: str,
    columns: Sequence[str],
    parent: str,
    parent_rel: str,
    parent_columns: Sequence[str],
    *,
    severity: Severity = Severity.ERROR,
    name: str | None = None,
    quirk: bool = False,
) -> Check:
    """Child rows whose key has no parent row (orphans)."""
    join = " AND ".join(
        f"p.{ident(pc)} = c.{ident(cc)}" for cc, pc in zip(columns, parent_columns, strict=True)
    )
    sql = (
        f"SELECT count(*), 'e.g. ' || string_agg(k, ', ') FILTER (WHERE rn <= {_EXAMPLES}) "
        f"FROM (SELECT {_key_text(columns, 'c')} AS k, "
        f"row_number() OVER () AS rn FROM {rel} AS c "
        f"WHERE {_all_not_null(columns, 'c')} "
        f"AND NOT EXISTS (SELECT 1 FROM {parent_rel} AS p WHERE {join})) AS o"
    )
    return Check(
        layer=layer,
        table=table,
        name=name or f"relationship({','.join(columns)}->{parent})",
        severity=severity,
        sql=sql,
        what="orphan rows",
        quirk=quirk,
    )


def schema(
    layer: str,
    table: str,
    expected: Sequence[tuple[str, Sequence[str]]],
    *,
    exact: bool = False,
    severity: Severity = Severity.ERROR,
) -> Check:
    """Columns of ``table`` in information_schema against the contract.

    ``expected`` is (column, accepted data_type values); a missing column, a
    column of another type and (with ``exact``) an extra column is each one
    problem.
    """
    schema_name, _, table_name = table.partition(".")
    values = ", ".join(
        f"({literal(col)}, ARRAY[{', '.join(literal(t) for t in types)}]::text[])"
        for col, types in expected
    )
    extra = (
        "UNION ALL SELECT a.column_name || ' is not in the contract' FROM actual a "
        "WHERE NOT EXISTS (SELECT 1 FROM expected e WHERE e.col = a.column_name) "
        if exact
        else ""
    )
    sql = (
        f"WITH expected(col, types) AS (VALUES {values}), "
        f"actual AS (SELECT column_name::text AS column_name, data_type::text AS data_type "
        f"FROM information_schema.columns WHERE table_schema = {literal(schema_name)} "
        f"AND table_name = {literal(table_name)}), "
        f"problems(p) AS ("
        f"SELECT 'table does not exist' WHERE NOT EXISTS (SELECT 1 FROM actual) "
        f"UNION ALL SELECT e.col || ' is missing' FROM expected e "
        f"WHERE EXISTS (SELECT 1 FROM actual) "
        f"AND NOT EXISTS (SELECT 1 FROM actual a WHERE a.column_name = e.col) "
        f"UNION ALL SELECT e.col || ' is ' || a.data_type || ' (expected ' "
        f"|| array_to_string(e.types, ' or ') || ')' "
        f"FROM expected e JOIN actual a ON a.column_name = e.col "
        f"WHERE NOT (a.data_type = ANY (e.types)) {extra})"
        f"SELECT count(*), string_agg(p, '; ' ORDER BY p) FROM problems"
    )
    return Check(
        layer=layer,
        table=table,
        name="schema",
        severity=severity,
        sql=sql,
        what="column problems",
    )


def freshness(
    layer: str,
    table: str,
    rel: str,
    timestamp_sql: str,
    *,
    max_age_seconds: int,
    severity: Severity = Severity.WARN,
) -> Check:
    """Seconds since the newest row (``timestamp_sql`` over alias ``t``)."""
    sql = (
        f"SELECT round(extract(epoch FROM now() - max({timestamp_sql}))::numeric, 0), "
        f"'newest ' || max({timestamp_sql})::text FROM {rel} AS t"
    )
    return Check(
        layer=layer,
        table=table,
        name="freshness",
        severity=severity,
        sql=sql,
        what="seconds since the newest row",
        expected=Decimal(max_age_seconds),
        op=Op.LE,
    )


def reconcile(  # noqa: PLR0917 (declarations read like table rows)
    layer: str,
    table: str,
    name: str,
    left_label: str,
    left_sql: str,
    right_label: str,
    right_sql: str,
    *,
    what: str = "difference",
    tolerance: Decimal = Decimal(0),
    severity: Severity = Severity.ERROR,
) -> Check:
    """Two scalar queries that must agree; observed = left - right."""
    sql = (
        f"SELECT l - r, format('%s %s vs %s %s', {literal(left_label)}, l, "
        f"{literal(right_label)}, r) "
        f"FROM (SELECT coalesce(({left_sql}), 0)::numeric AS l, "
        f"coalesce(({right_sql}), 0)::numeric AS r) AS s"
    )
    return Check(
        layer=layer,
        table=table,
        name=name,
        severity=severity,
        sql=sql,
        what=what,
        tolerance=tolerance,
    )


def count_where(  # noqa: PLR0917 (declarations read like table rows)
    layer: str,
    table: str,
    rel: str,
    name: str,
    condition: str,
    what: str,
    *,
    severity: Severity = Severity.WARN,
    quirk: bool = True,
    example: str | None = None,
    expected: int = 0,
    op: Op = Op.EQ,
) -> Check:
    """Rows of ``rel`` (alias ``t``) matching ``condition``: the shape of most quirk checks."""
    inner_example, example_sql = "", "NULL"
    if example:
        inner_example = f", {example} AS ex"
        example_sql = f"'e.g. ' || string_agg(ex, ', ') FILTER (WHERE rn <= {_EXAMPLES})"
    sql = (
        f"SELECT count(*), {example_sql} FROM (SELECT row_number() OVER () AS rn{inner_example} "
        f"FROM {rel} AS t WHERE {condition}) AS m"
    )
    return Check(
        layer=layer,
        table=table,
        name=name,
        severity=severity,
        sql=sql,
        what=what,
        quirk=quirk,
        expected=Decimal(expected),
        op=op,
    )


def scalar(
    layer: str,
    table: str,
    name: str,
    sql: str,
    what: str,
    *,
    severity: Severity = Severity.WARN,
    quirk: bool = True,
    expected: int = 0,
    op: Op = Op.EQ,
) -> Check:
    """A hand-written query returning ``(observed, detail)``; for checks no kind fits."""
    return Check(
        layer=layer,
        table=table,
        name=name,
        severity=severity,
        sql=sql,
        what=what,
        quirk=quirk,
        expected=Decimal(expected),
        op=op,
    )
