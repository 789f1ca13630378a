"""The declared checks, per layer and table.

Checks that follow from the source contracts (schema, keys, not-null,
accepted values, formats) are generated from
``olist_pipeline.contracts.sources`` so they cannot drift from it; the rest
(reconciliations, relationships, freshness and the named Olist quirks) are
declared here as data. Severity policy:

- raw keeps what the file said, so raw-level problems that staging repairs
  (duplicates, odd values) are ``warn``; a broken raw table (wrong schema,
  empty, rows lost between source and raw, rows without a key) is ``error``.
- staging, warehouse and marts are what users read: keys, nulls, accepted
  values, relationships and reconciliations there are ``error``.
- named quirks of the real Olist data are ``warn``: they are expected, and
  their observed counts are the figures to watch.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from olist_pipeline.contracts.sources import (
    BRAZIL_STATES,
    CONTRACTS,
    RAW_LINEAGE_COLUMNS,
    LogicalType,
    SourceContract,
)
from olist_pipeline.dq import checks as k
from olist_pipeline.dq import warehouse_checks
from olist_pipeline.dq.model import Check, Op, Severity, ident, literal, qualified
from olist_pipeline.dq.sql import money, raw_current

E, W = Severity.ERROR, Severity.WARN
T = LogicalType

# Raw values are text; these are what the contract's logical types look like.
RAW_PATTERNS: dict[LogicalType, str] = {
    T.ID: r"^[0-9a-f]{32}$",
    T.INT: r"^-?[0-9]+$",
    T.MONEY: r"^-?[0-9]+\.[0-9]{2}$",
    T.FLOAT: r"^-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?$",
    T.TIMESTAMP: r"^[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}$",
    T.ZIP: r"^[0-9]{5}$",
    T.STATE: r"^[A-Z]{2}$",
}
_TEXT = ("text", "character varying", "character")
# information_schema data_type values a typed (staging) column may have.
TYPED: dict[LogicalType, tuple[str, ...]] = {
    T.ID: _TEXT,
    T.TEXT: _TEXT,
    T.ZIP: _TEXT,
    T.STATE: _TEXT,
    T.ENUM: _TEXT,
    T.INT: ("smallint", "integer", "bigint"),
    T.MONEY: ("numeric",),
    T.FLOAT: ("double precision", "real", "numeric"),
    T.TIMESTAMP: ("timestamp without time zone", "timestamp with time zone"),
}
_LINEAGE_TYPES: dict[str, tuple[str, ...]] = {
    "_batch_id": ("text",),
    "_source_file": ("text",),
    "_row_number": ("bigint",),
    "_loaded_at": ("timestamp with time zone",),
}
# A generous box around Brazil, Fernando de Noronha (lng -32.4) included.
BRAZIL_BOX = {"lat_min": -34.0, "lat_max": 5.5, "lng_min": -74.1, "lng_max": -28.5}
RAW_MAX_AGE_SECONDS = 24 * 3600


@dataclass(frozen=True)
class Scope:
    """Which raw rows a raw-layer run looks at.

    ``raw_batches`` maps a table to the batches its run loaded (from
    ``audit.batches``); a table not in it is checked over every batch.
    """

    raw_batches: dict[str, tuple[str, ...]] | None = None
    run_id: str = ""

    def transform_stat(self, layer: str, table: str, metric: str) -> str:
        """A number the transform recorded (audit.transform_stats): this run's, else the newest."""
        return (
            f"SELECT value FROM audit.transform_stats WHERE layer = {literal(layer)} "
            f"AND table_name = {literal(table)} AND metric = {literal(metric)} "
            f"ORDER BY (run_id = {literal(self.run_id)}) DESC, recorded_at DESC LIMIT 1"
        )

    def raw(self, table: str) -> str:
        """Raw rows of ``table`` in scope (the run's batches, else every batch)."""
        batches = (self.raw_batches or {}).get(table)
        if not batches:
            return qualified(f"raw.{table}")
        listed = ", ".join(literal(b) for b in batches)
        return f"(SELECT * FROM {qualified('raw.' + table)} WHERE _batch_id IN ({listed}))"


def _ts(col: str) -> str:
    """A raw timestamp as comparable text (ISO text sorts like time); blank = NULL."""
    return f"NULLIF(btrim(t.{ident(col)}), '')"


# ---------------------------------------------------------------- raw layer


def _raw_contract_checks(c: SourceContract, scope: Scope) -> list[Check]:
    table, rel = f"raw.{c.table}", scope.raw(c.table)
    expected: list[tuple[str, Sequence[str]]] = [(col.name, ("text",)) for col in c.columns]
    expected += [(name, _LINEAGE_TYPES[name]) for name in RAW_LINEAGE_COLUMNS]
    out = [
        k.schema("raw", table, expected, exact=True),
        k.row_count("raw", table, qualified(table)),
    ]
    if c.primary_key:
        key_nulls = k.not_null("raw", table, rel, c.primary_key, blank_is_null=True)
        out.append(_renamed(key_nulls, f"not_null({','.join(c.primary_key)})"))
        out.append(k.unique("raw", table, rel, c.primary_key, per=("_batch_id",), severity=W))
    required = [col.name for col in c.columns if not col.nullable and col.name not in c.primary_key]
    if required:
        out.append(k.not_null("raw", table, rel, required, blank_is_null=True, severity=W))
    patterns = {col.name: RAW_PATTERNS[col.type] for col in c.columns if col.type in RAW_PATTERNS}
    if patterns:
        out.append(k.formats("raw", table, rel, patterns, severity=W))
    for col in c.columns:
        if col.accepted:
            out.append(k.accepted_values("raw", table, rel, col.name, col.accepted, severity=W))
    out.append(
        k.freshness(
            "raw", table, qualified(table), "t._loaded_at", max_age_seconds=RAW_MAX_AGE_SECONDS
        )
    )
    return out


def _renamed(check: Check, name: str) -> Check:
    from dataclasses import replace

    return replace(check, name=name)


def _raw_quirks(scope: Scope) -> list[Check]:
    """Named checks for the known quirks of the real Olist files (PROFILE.md section 2)."""
    raw = scope.raw
    orders, items, pays = "raw.orders", "raw.order_items", "raw.order_payments"
    reviews, products, geo = "raw.order_reviews", "raw.products", "raw.geolocation"
    oid = "t.order_id"

    def order_rule(name: str, cond: str, what: str) -> Check:
        return k.count_where("raw", orders, raw("orders"), name, cond, what, example=oid)

    purchase, approved = _ts("order_purchase_timestamp"), _ts("order_approved_at")
    carrier, delivered = _ts("order_delivered_carrier_date"), _ts("order_delivered_customer_date")
    status = "t.order_status"
    value = money("t.payment_value")
    box = BRAZIL_BOX
    lat, lng = money("t.geolocation_lat"), money("t.geolocation_lng")
    return [
        # --- orders: contradictory lifecycle timestamps
        order_rule(
            "carrier_before_purchase",
            f"{carrier} < {purchase}",
            "orders handed to the carrier before purchase",
        ),
        order_rule(
            "carrier_before_approval",
            f"{carrier} < {approved}",
            "orders handed to the carrier before approval",
        ),
        order_rule(
            "delivered_before_approval",
            f"{delivered} < {approved}",
            "orders delivered before approval",
        ),
        order_rule(
            "delivered_before_carrier",
            f"{delivered} < {carrier}",
            "orders delivered before carrier handover",
        ),
        order_rule(
            "approved_before_purchase",
            f"{approved} < {purchase}",
            "orders approved before purchase",
        ),
        order_rule(
            "delivered_without_delivery_date",
            f"{status} = 'delivered' AND {delivered} IS NULL",
            "delivered orders without a delivery date",
        ),
        order_rule(
            "canceled_with_delivery_date",
            f"{status} = 'canceled' AND {delivered} IS NOT NULL",
            "canceled orders with a delivery date",
        ),
        order_rule(
            "delivered_without_approval",
            f"{status} = 'delivered' AND {approved} IS NULL",
            "delivered orders without an approval time",
        ),
        # --- orders: missing children
        order_rule(
            "orders_without_items",
            "NOT EXISTS (SELECT 1 FROM raw.order_items i WHERE i.order_id = t.order_id)",
            "orders without items",
        ),
        order_rule(
            "orders_without_payments",
            "NOT EXISTS (SELECT 1 FROM raw.order_payments p WHERE p.order_id = t.order_id)",
            "orders without payments",
        ),
        # --- payments
        k.count_where(
            "raw",
            pays,
            raw("order_payments"),
            "not_defined_payments",
            "t.payment_type = 'not_defined'",
            "payments of type not_defined",
            example=oid,
        ),
        k.count_where(
            "raw",
            pays,
            raw("order_payments"),
            "zero_payments",
            f"{value} = 0",
            "payments of 0.00",
            example=oid,
        ),
        k.count_where(
            "raw",
            pays,
            raw("order_payments"),
            "zero_installments",
            "t.payment_installments = '0'",
            "payments with 0 installments",
            example=oid,
        ),
        k.scalar(
            "raw",
            pays,
            "payment_sequential_gaps",
            "SELECT count(*), 'e.g. ' || string_agg(order_id, ', ') FILTER (WHERE rn <= 3) "
            "FROM (SELECT order_id, row_number() OVER () AS rn FROM "
            f"(SELECT order_id FROM {raw('order_payments')} AS t "
            f"WHERE t.payment_sequential ~ '^[0-9]+$' GROUP BY order_id "
            "HAVING min(payment_sequential::int) <> 1 "
            "OR max(payment_sequential::int) <> count(*)) AS g) AS n",
            "orders whose payment_sequential is not 1..n",
        ),
        k.scalar(
            "raw",
            pays,
            "payments_differ_from_items",
            "SELECT count(*), NULL FROM "
            f"(SELECT t.order_id, sum({value}) AS paid FROM {raw('order_payments')} AS t "
            "GROUP BY t.order_id) AS p JOIN "
            f"(SELECT t.order_id, sum({money('t.price')} + {money('t.freight_value')}) AS due "
            f"FROM {raw_current('order_items')} AS t GROUP BY t.order_id) AS i "
            "USING (order_id) WHERE abs(p.paid - i.due) > 0.01",
            "orders whose payments differ from items + freight",
        ),
        # --- items
        k.count_where(
            "raw",
            items,
            raw("order_items"),
            "zero_freight",
            f"{money('t.freight_value')} = 0",
            "items with freight 0.00",
        ),
        # --- reviews
        k.unique(
            "raw",
            reviews,
            raw("order_reviews"),
            ("review_id",),
            severity=W,
            name="duplicate_review_ids",
            quirk=True,
        ),
        k.unique(
            "raw",
            reviews,
            raw("order_reviews"),
            ("order_id",),
            severity=W,
            name="orders_with_several_reviews",
            quirk=True,
        ),
        k.count_where(
            "raw",
            reviews,
            # A hash join, not a correlated subquery: raw tables have no indexes.
            f"(SELECT r.*, o.purchase_day FROM {raw('order_reviews')} AS r JOIN "
            "(SELECT order_id, left(min(order_purchase_timestamp), 10) AS purchase_day "
            "FROM raw.orders GROUP BY order_id) AS o USING (order_id))",
            "review_before_purchase",
            "left(t.review_creation_date, 10) < t.purchase_day",
            "reviews created before the order's purchase day",
            example="t.review_id",
        ),
        # --- products and categories
        k.scalar(
            "raw",
            products,
            "untranslated_categories",
            "SELECT count(*), string_agg(c, ', ' ORDER BY c) FROM "
            f"(SELECT DISTINCT t.product_category_name AS c FROM {raw('products')} AS t "
            "WHERE NULLIF(btrim(t.product_category_name), '') IS NOT NULL AND NOT EXISTS "
            "(SELECT 1 FROM raw.category_translation x "
            "WHERE x.product_category_name = t.product_category_name)) AS u",
            "categories missing from the translation",
        ),
        k.count_where(
            "raw",
            products,
            raw("products"),
            "null_category",
            "NULLIF(btrim(t.product_category_name), '') IS NULL",
            "products without a category",
        ),
        k.count_where(
            "raw",
            products,
            raw("products"),
            "zero_weight",
            "t.product_weight_g = '0'",
            "products weighing 0 g",
            example="t.product_id",
        ),
        # --- geolocation
        k.count_where(
            "raw",
            geo,
            raw("geolocation"),
            "out_of_country",
            f"{lat} NOT BETWEEN {box['lat_min']} AND {box['lat_max']} "
            f"OR {lng} NOT BETWEEN {box['lng_min']} AND {box['lng_max']}",
            "coordinates outside Brazil",
            example="t.geolocation_zip_code_prefix",
        ),
        k.scalar(
            "raw",
            geo,
            "exact_duplicates",
            "SELECT count(*) - (SELECT count(*) FROM (SELECT DISTINCT "
            "geolocation_zip_code_prefix, geolocation_lat, geolocation_lng, geolocation_city, "
            f"geolocation_state FROM {raw('geolocation')} AS t) AS d), NULL "
            f"FROM {raw('geolocation')} AS t",
            "exact duplicate rows",
        ),
        k.scalar(
            "raw",
            geo,
            "zip_prefix_in_several_states",
            "SELECT count(*), 'e.g. ' || string_agg(z, ', ') FILTER (WHERE rn <= 3) FROM "
            "(SELECT geolocation_zip_code_prefix AS z, row_number() OVER () AS rn "
            f"FROM {raw('geolocation')} AS t GROUP BY geolocation_zip_code_prefix "
            "HAVING count(DISTINCT geolocation_state) > 1) AS m",
            "zip prefixes mapped to several states",
        ),
        # --- customers and sellers
        k.count_where(
            "raw",
            "raw.customers",
            raw("customers"),
            "zip_not_in_geolocation",
            "NOT EXISTS (SELECT 1 FROM raw.geolocation g "
            "WHERE g.geolocation_zip_code_prefix = t.customer_zip_code_prefix)",
            "customers whose zip prefix is not in geolocation",
        ),
        k.count_where(
            "raw",
            "raw.sellers",
            raw("sellers"),
            "city_not_plain",
            "t.seller_city !~ '^[a-zà-ü]+( [a-zà-ü]+)*$'",
            "seller cities that are not plain lower-case words",
            example="t.seller_city",
        ),
    ]


def raw_suite(scope: Scope) -> list[Check]:
    out: list[Check] = []
    for c in CONTRACTS:
        out.extend(_raw_contract_checks(c, scope))
    out.extend(_raw_reconciliation(scope))
    out.extend(_raw_quirks(scope))
    return out


def _raw_reconciliation(scope: Scope) -> list[Check]:
    """Source rows = raw rows + quarantined rows, per batch (needs the ingest's audit tables)."""
    from olist_pipeline.dq import reconcile_sources

    return reconcile_sources.raw_checks(scope)


# ------------------------------------------------------------ staging layer


def _typed_schema(c: SourceContract) -> list[tuple[str, Sequence[str]]]:
    return [(col.name, TYPED[col.type]) for col in c.columns]


STAGING_RELATIONSHIPS: tuple[tuple[str, tuple[str, ...], str, tuple[str, ...]], ...] = (
    ("order_items", ("order_id",), "orders", ("order_id",)),
    ("order_items", ("product_id",), "products", ("product_id",)),
    ("order_items", ("seller_id",), "sellers", ("seller_id",)),
    ("order_payments", ("order_id",), "orders", ("order_id",)),
    ("order_reviews", ("order_id",), "orders", ("order_id",)),
    ("orders", ("customer_id",), "customers", ("customer_id",)),
)


def staging_suite(scope: Scope) -> list[Check]:
    out: list[Check] = []
    for c in CONTRACTS:
        table = f"staging.{c.table}"
        rel = qualified(table)

        def stat(metric: str, table_name: str = c.table) -> str:
            return scope.transform_stat("staging", table_name, metric)

        out.append(k.schema("staging", table, _typed_schema(c)))
        out.append(k.row_count("staging", table, rel))
        # Every raw row is accounted for: kept, removed as a duplicate, or
        # rejected for a missing key (the counts the transform recorded).
        out.append(
            k.reconcile(
                "staging",
                table,
                "row_count_vs_raw",
                "staging rows + duplicates removed + rejected",
                f"SELECT (SELECT count(*) FROM {rel}) + coalesce(({stat('duplicates_removed')}), 0)"
                f" + coalesce(({stat('rejected_null_key')}), 0)",
                "raw rows",
                f"SELECT count(*) FROM {qualified('raw.' + c.table)}",
                what="rows unaccounted for",
            )
        )
        if c.primary_key:
            out.append(k.unique("staging", table, rel, c.primary_key))
        # A value the transform could not type is NULL and named in
        # invalid_fields: reported by invalid_values (warn), not as a null.
        required = {
            col.name: (
                f"{ident(col.name)} IS NULL AND NOT coalesce("
                f"',' || invalid_fields || ',' LIKE {literal('%,' + col.name + ',%')}, false)"
            )
            for col in c.columns
            if not col.nullable
        }
        out.append(k.per_column("staging", table, rel, "not_null", "null values", required, E))
        out.append(
            k.count_where(
                "staging",
                table,
                rel,
                "invalid_values",
                "t.invalid_fields IS NOT NULL",
                "rows with values that could not be typed",
                example="t.invalid_fields",
                quirk=False,
            )
        )
        for col in c.columns:
            if col.accepted:
                out.append(k.accepted_values("staging", table, rel, col.name, col.accepted))
    for child, cols, parent, pcols in STAGING_RELATIONSHIPS:
        out.append(
            k.relationship(
                "staging",
                f"staging.{child}",
                qualified(f"staging.{child}"),
                cols,
                f"staging.{parent}",
                qualified(f"staging.{parent}"),
                pcols,
            )
        )
    out.append(
        k.reconcile(
            "staging",
            "staging.order_payments",
            "money(payment_value)_vs_raw",
            "staging",
            "SELECT sum(payment_value) FROM staging.order_payments",
            "raw",
            f"SELECT sum({money('t.payment_value')}) FROM {raw_current('order_payments')} AS t",
            what="difference in sum(payment_value)",
            tolerance=Decimal("0.005"),
        )
    )
    out.append(
        k.reconcile(
            "staging",
            "staging.order_items",
            "money(price+freight)_vs_raw",
            "staging",
            "SELECT sum(price + freight_value) FROM staging.order_items",
            "raw",
            f"SELECT sum({money('t.price')} + {money('t.freight_value')}) "
            f"FROM {raw_current('order_items')} AS t",
            what="difference in sum(price + freight_value)",
            tolerance=Decimal("0.005"),
        )
    )
    return out


# -------------------------------------------------- warehouse and marts layers


def warehouse_suite(scope: Scope) -> list[Check]:
    return warehouse_checks.warehouse_suite()


def marts_suite(scope: Scope) -> list[Check]:
    return warehouse_checks.marts_suite()


SUITES: dict[str, Callable[[Scope], list[Check]]] = {
    "raw": raw_suite,
    "staging": staging_suite,
    "warehouse": warehouse_suite,
    "marts": marts_suite,
}


def suite(layer: str, scope: Scope | None = None) -> list[Check]:
    from olist_pipeline.dq.increment_checks import increment_suite

    checks = SUITES[layer](scope or Scope()) + increment_suite(layer)
    seen: set[tuple[str, str]] = set()
    for check in checks:
        key = (check.table, check.name)
        if key in seen:
            raise ValueError(f"two checks named {check.name!r} on {check.table}")
        seen.add(key)
    return checks


__all__ = ["BRAZIL_STATES", "SUITES", "Op", "Scope", "suite"]
