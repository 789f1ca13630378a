"""Profile a folder of Olist files and check it against the real data set's figures.

:func:`profile` reads the 9 files (with the reader, so it sees them as
ingestion will) and returns flat figures: row counts, key duplicates, null
rates, referential orphans, distribution shares and quirk counts.
:func:`check` compares those with :data:`EXPECTED`: figures of the full real
data set (PROFILE.md) with a stated tolerance each. Row counts are compared
as ratios to the number of orders, so any scale can be checked.

Memory grows with the data (key sets for uniqueness and integrity); it is
a check tool, not on the pipeline's path.
"""

from __future__ import annotations

import math
import statistics
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from olist_pipeline.contracts.sources import contract_for
from olist_pipeline.data import vocab
from olist_pipeline.data.reader import Values, iter_parsed, zero_pad_zip

Figures = dict[str, float]


@dataclass(frozen=True)
class Expectation:
    name: str
    expected: float
    tolerance: float  # absolute, unless relative is set
    relative: bool = False
    quirk: bool = False  # a quirk's figure: expected 0 when quirks are off
    # Rare events: the rate's denominator (a rows.* figure), so that small
    # counts are judged with their sampling noise.
    per: str = ""

    def accepts(self, value: float, quirks: bool, figures: Figures | None = None) -> bool:
        if self.quirk and not quirks:
            return value == 0
        slack = self.tolerance * abs(self.expected) if self.relative else self.tolerance
        if self.per and figures and figures.get(self.per):
            # Counts of rare events: allow Poisson noise (3 sigma) plus 2.
            n = figures[self.per]
            slack = max(slack, (2 + 3 * math.sqrt(self.expected * n)) / n)
        return abs(value - self.expected) <= slack

    def describe(self, quirks: bool) -> str:
        if self.quirk and not quirks:
            return "0 (quirks off)"
        if self.relative:
            return f"{self.expected:g} ± {self.tolerance:.0%}"
        return f"{self.expected:g} ± {self.tolerance:g}"


def _e(name: str, expected: float, tol: float, **kw: object) -> Expectation:
    return Expectation(name, expected, tol, **kw)  # type: ignore[arg-type]


_ORDERS = 99_441
# Figures of the full real data set (PROFILE.md), each with the tolerance the
# generator promises at scale >= 0.1 (about 3 standard errors of a share over
# ~10k orders, wider where PROFILE.md itself is approximate). Shares are
# fractions (0.58 = 58%).
EXPECTED: tuple[Expectation, ...] = (
    # rows per order (PROFILE.md section 0)
    _e("ratio.customers_per_order", 1.0, 0.0),
    _e("ratio.items_per_order", 112_650 / _ORDERS, 0.03, relative=True),
    _e("ratio.payments_per_order", 103_886 / _ORDERS, 0.02, relative=True),
    _e("ratio.reviews_per_order", 99_224 / _ORDERS, 0.01, relative=True),
    _e("ratio.products_per_order", 32_951 / _ORDERS, 0.02, relative=True),
    _e("ratio.sellers_per_order", 3_095 / _ORDERS, 0.05, relative=True),
    _e("ratio.geolocation_per_order", 1_000_163 / _ORDERS, 0.02, relative=True),
    # order_status mix
    _e("share.order_status.delivered", 96_478 / _ORDERS, 0.006),
    _e("share.order_status.shipped", 1_107 / _ORDERS, 0.0035),
    _e("share.order_status.canceled", 625 / _ORDERS, 0.0025),
    _e("share.order_status.unavailable", 609 / _ORDERS, 0.0025),
    _e("share.order_status.invoiced", 314 / _ORDERS, 0.0018),
    _e("share.order_status.processing", 301 / _ORDERS, 0.0018),
    # nulls of order lifecycle columns
    _e("null.orders.order_approved_at", 160 / _ORDERS, 0.0013),
    _e("null.orders.order_delivered_carrier_date", 1_783 / _ORDERS, 0.004),
    _e("null.orders.order_delivered_customer_date", 2_965 / _ORDERS, 0.005),
    _e("null.order_reviews.review_comment_title", 0.883, 0.015),
    _e("null.order_reviews.review_comment_message", 0.587, 0.02),
    # payments (rows)
    _e("share.payment_type.credit_card", 76_795 / 103_886, 0.014),
    _e("share.payment_type.boleto", 19_784 / 103_886, 0.013),
    _e("share.payment_type.voucher", 5_775 / 103_886, 0.008),
    _e("share.payment_type.debit_card", 1_529 / 103_886, 0.004),
    _e("share.installments_of_credit_card.1", 25_455 / 76_795, 0.02),
    _e("share.installments_of_credit_card.gt_1", 1 - 25_457 / 76_795, 0.02),
    _e("share.orders_with_several_payments", 2_961 / 99_440, 0.006),
    _e("payment_value.median", 100.0, 0.15, relative=True),
    _e("payment_value.mean", 154.10, 0.15, relative=True),
    # reviews
    _e("share.review_score.5", 0.578, 0.02),
    _e("share.review_score.4", 0.193, 0.015),
    _e("share.review_score.3", 0.082, 0.01),
    _e("share.review_score.2", 0.032, 0.008),
    _e("share.review_score.1", 0.115, 0.015),
    # items per order (orders with items)
    _e("share.items_per_order.1", 88_863 / 98_666, 0.009),
    _e("share.items_per_order.2", 7_516 / 98_666, 0.008),
    _e("share.items_per_order.3_or_more", 2_287 / 98_666, 0.005),
    _e("price.median", 74.99, 0.12, relative=True),
    _e("price.mean", 120.65, 0.15, relative=True),
    _e("freight.median", 16.26, 0.1, relative=True),
    _e("freight.mean", 19.99, 0.12, relative=True),
    # repeat customers (by customer_unique_id)
    _e("share.orders_from_repeat_buyers", 1 - 96_096 / _ORDERS, 0.006),
    _e("share.customers_with_several_orders", 2_997 / 96_096, 0.006),
    # orders per month: the 2017-11 Black Friday peak and the overall shape
    _e("share.month.2017-11", 7_544 / _ORDERS, 0.008),
    _e("share.month.2017-12", 5_673 / _ORDERS, 0.008),
    _e("share.month.2018-01", 7_269 / _ORDERS, 0.008),
    _e("share.month.2017-06", 3_245 / _ORDERS, 0.006),
    _e("share.months_before_2017", (4 + 324 + 1) / _ORDERS, 0.002),
    _e("peak.month_2017_is_november", 1.0, 0.0),
    # states
    _e("share.customer_state.SP", 41_746 / _ORDERS, 0.015),
    _e("share.customer_state.RJ", 12_852 / _ORDERS, 0.01),
    _e("share.customer_state.MG", 11_635 / _ORDERS, 0.01),
    _e("share.seller_state.SP", 1_849 / 3_095, 0.085),
    _e("share.seller_state.PR", 349 / 3_095, 0.05),
    # integrity: no orphans anywhere
    _e("orphans.order_items.order_id", 0, 0),
    _e("orphans.order_items.product_id", 0, 0),
    _e("orphans.order_items.seller_id", 0, 0),
    _e("orphans.order_payments.order_id", 0, 0),
    _e("orphans.order_reviews.order_id", 0, 0),
    _e("orphans.orders.customer_id", 0, 0),
    _e("duplicates.orders", 0, 0),
    _e("duplicates.customers", 0, 0),
    _e("duplicates.products", 0, 0),
    _e("duplicates.sellers", 0, 0),
    _e("duplicates.order_items", 0, 0),
    _e("duplicates.order_payments", 0, 0),
    _e("duplicates.order_reviews", 0, 0),
    _e("malformed_records", 0, 0),
    # quirks, per order unless named otherwise (relative tolerance: rare counts)
    _e(
        "quirk.duplicate_review_id_rows_per_order",
        814 / _ORDERS,
        0.35,
        relative=True,
        quirk=True,
        per="rows.orders",
    ),
    _e(
        "quirk.orders_without_items_per_order",
        775 / _ORDERS,
        0.2,
        relative=True,
        quirk=True,
        per="rows.orders",
    ),
    _e(
        "quirk.orders_without_payments_per_order",
        1 / _ORDERS,
        1.0,
        relative=True,
        quirk=True,
        per="rows.orders",
    ),
    _e(
        "quirk.not_defined_payments_per_order",
        3 / _ORDERS,
        1.0,
        relative=True,
        quirk=True,
        per="rows.orders",
    ),
    _e(
        "quirk.zero_payments_per_order",
        9 / _ORDERS,
        1.0,
        relative=True,
        quirk=True,
        per="rows.orders",
    ),
    _e(
        "quirk.carrier_before_purchase_per_order",
        166 / _ORDERS,
        0.35,
        relative=True,
        quirk=True,
        per="rows.orders",
    ),
    _e(
        "quirk.carrier_before_approval_per_order",
        1_359 / _ORDERS,
        0.2,
        relative=True,
        quirk=True,
        per="rows.orders",
    ),
    _e(
        "quirk.delivered_without_date_per_order",
        8 / _ORDERS,
        1.0,
        relative=True,
        quirk=True,
        per="rows.orders",
    ),
    _e(
        "quirk.products_without_category_share",
        610 / 32_951,
        0.2,
        relative=True,
        quirk=True,
        per="rows.products",
    ),
    _e("quirk.untranslated_categories", 2, 0, quirk=True),
    _e("quirk.geolocation_duplicate_share", 0.26, 0.04, quirk=True),
    _e(
        "quirk.geolocation_out_of_country_prefixes_share",
        9 / 19_015,
        1.0,
        relative=True,
        quirk=True,
        per="geolocation.prefixes",
    ),
    _e("quirk.accented_geolocation_city_share", 0.05, 0.04, quirk=True),
    _e(
        "quirk.dirty_seller_city_share",
        29 / 3_095,
        0.6,
        relative=True,
        quirk=True,
        per="rows.sellers",
    ),
)


def _rows(data_dir: Path, table: str, errors: Counter[str]) -> Iterator[Values]:
    for _, _, _, values, error in iter_parsed(data_dir / contract_for(table).file_name,
                                               contract_for(table)):  # fmt: skip
        if values is None:
            errors[f"{table}: {(error or '').split(':')[0]}"] += 1
            continue
        yield values


def _share(counter: Counter[str], total: int, prefix: str, out: Figures) -> None:
    for key, count in counter.items():
        out[f"{prefix}.{key}"] = count / total if total else 0.0


class _Scan:
    """Reads one table at a time, counting its rows, NULLs per column and malformed records."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.figures: Figures = {}
        self.errors: Counter[str] = Counter()
        self.rows: dict[str, int] = {}

    def scan(self, table: str) -> Iterator[Values]:
        contract = contract_for(table)
        nulls: Counter[int] = Counter()
        n = 0
        for values in _rows(self.data_dir, table, self.errors):
            n += 1
            for i, v in enumerate(values):
                if v is None:
                    nulls[i] += 1
            yield values
        self.rows[table] = n
        for i, col in enumerate(contract.columns):
            self.figures[f"null.{table}.{col.name}"] = nulls[i] / n if n else 0.0


def profile(data_dir: Path | str) -> Figures:
    """Figures of one folder of Olist files (see the module docstring)."""
    s = _Scan(Path(data_dir))
    # Dimensions first: the facts' orphan counts look their keys up.
    product_ids = _products(s)
    seller_ids = _sellers(s)
    _geolocation(s)
    customer_ids = _customers(s)
    order_ids = _orders(s, customer_ids)
    del customer_ids
    _items(s, order_ids, product_ids, seller_ids)
    _payments(s, order_ids)
    _reviews(s, order_ids)
    _totals(s)
    return s.figures


def _products(s: _Scan) -> set[str]:
    """Duplicates, products without a category, categories the translation lacks."""
    f, rows, scan = s.figures, s.rows, s.scan
    translation = {r[0] for r in scan("category_translation")}
    product_ids: set[str] = set()
    dup_products = 0
    categories: set[str] = set()
    no_category = 0
    for r in scan("products"):
        dup_products += r[0] in product_ids
        product_ids.add(str(r[0]))
        if r[1] is None:
            no_category += 1
        else:
            categories.add(r[1])
    f["duplicates.products"] = dup_products
    f["quirk.products_without_category_share"] = no_category / max(rows["products"], 1)
    f["quirk.untranslated_categories"] = len(categories - translation)
    return product_ids


def _sellers(s: _Scan) -> set[str]:
    f, rows, scan = s.figures, s.rows, s.scan
    seller_ids: set[str] = set()
    dup_sellers = 0
    seller_states: Counter[str] = Counter()
    dirty = 0
    for r in scan("sellers"):
        dup_sellers += r[0] in seller_ids
        seller_ids.add(str(r[0]))
        seller_states[str(r[3])] += 1
        city = r[2] or ""
        if not city.replace(" ", "").isalpha() or not city.isascii() or "  " in city:
            dirty += 1
    f["duplicates.sellers"] = dup_sellers
    f["quirk.dirty_seller_city_share"] = dirty / max(rows["sellers"], 1)
    _share(seller_states, rows["sellers"], "share.seller_state", f)
    return seller_ids


def _geolocation(s: _Scan) -> None:
    """Duplicates, out-of-country prefixes, accents."""
    f, rows, scan = s.figures, s.rows, s.scan
    seen_geo: set[int] = set()
    geo_dups = 0
    accented = 0
    prefixes: set[str] = set()
    abroad: set[str] = set()
    lat_min, lat_max, lng_min, lng_max = vocab.BRAZIL_BOX
    for r in scan("geolocation"):
        h = hash(r)
        if h in seen_geo:
            geo_dups += 1
        else:
            seen_geo.add(h)
        zip_code = zero_pad_zip(r[0]) or ""
        prefixes.add(zip_code)
        try:
            lat, lng = float(r[1] or "nan"), float(r[2] or "nan")
        except ValueError:
            lat = lng = math.nan
        if not (lat_min <= lat <= lat_max and lng_min <= lng <= lng_max):
            abroad.add(zip_code)
        if not (r[3] or "").isascii():
            accented += 1
    n_geo = max(rows["geolocation"], 1)
    f["quirk.geolocation_duplicate_share"] = geo_dups / n_geo
    f["quirk.geolocation_out_of_country_prefixes_share"] = len(abroad) / max(len(prefixes), 1)
    f["geolocation.noronha_out_of_country"] = float(f"{vocab.NORONHA_ZIP:05d}" in abroad)
    f["quirk.accented_geolocation_city_share"] = accented / n_geo
    f["geolocation.prefixes"] = len(prefixes)


def _customers(s: _Scan) -> set[str]:
    f, rows, scan = s.figures, s.rows, s.scan
    customer_ids: set[str] = set()
    dup_customers = 0
    unique_orders: Counter[str] = Counter()
    customer_states: Counter[str] = Counter()
    for r in scan("customers"):
        dup_customers += r[0] in customer_ids
        customer_ids.add(str(r[0]))
        unique_orders[str(r[1])] += 1
        customer_states[str(r[4])] += 1
    f["duplicates.customers"] = dup_customers
    n_customers = max(rows["customers"], 1)
    _share(customer_states, n_customers, "share.customer_state", f)
    f["customers.unique"] = len(unique_orders)
    f["share.orders_from_repeat_buyers"] = 1 - len(unique_orders) / n_customers
    f["share.customers_with_several_orders"] = sum(1 for c in unique_orders.values() if c > 1) / (
        max(len(unique_orders), 1)
    )
    f["customers.max_orders_per_unique_id"] = max(unique_orders.values(), default=0)
    return customer_ids


def _orders(s: _Scan, customer_ids: set[str]) -> set[str]:
    """Status, months, lifecycle contradictions."""
    f, rows, scan = s.figures, s.rows, s.scan
    order_ids: set[str] = set()
    dup_orders = 0
    orphans_customer = 0
    statuses: Counter[str] = Counter()
    months: Counter[str] = Counter()
    q = Counter[str]()
    for r in scan("orders"):
        oid = str(r[0])
        dup_orders += oid in order_ids
        order_ids.add(oid)
        orphans_customer += r[1] not in customer_ids
        status = str(r[2])
        statuses[status] += 1
        purchase, approved, carrier, delivered = r[3] or "", r[4], r[5], r[6]
        months[purchase[:7]] += 1
        if carrier is not None and carrier < purchase:
            q["carrier_before_purchase"] += 1
        if carrier is not None and approved is not None and carrier < approved:
            q["carrier_before_approval"] += 1
        if delivered is not None and approved is not None and delivered < approved:
            q["delivered_before_approval"] += 1
        if delivered is not None and carrier is not None and delivered < carrier:
            q["delivered_before_carrier"] += 1
        if status == "delivered" and delivered is None:
            q["delivered_without_date"] += 1
        if status == "canceled" and delivered is not None:
            q["canceled_with_delivery"] += 1
    n_orders = max(rows["orders"], 1)
    f["duplicates.orders"] = dup_orders
    f["orphans.orders.customer_id"] = orphans_customer
    _share(statuses, n_orders, "share.order_status", f)
    _share(months, n_orders, "share.month", f)
    f["share.months_before_2017"] = sum(c for m, c in months.items() if m < "2017") / n_orders
    months_2017 = {m: c for m, c in months.items() if m.startswith("2017")}
    f["peak.month_2017_is_november"] = float(
        bool(months_2017) and max(months_2017, key=lambda m: months_2017[m]) == "2017-11"
    )
    for name in (
        "carrier_before_purchase",
        "carrier_before_approval",
        "delivered_before_approval",
        "delivered_before_carrier",
        "delivered_without_date",
        "canceled_with_delivery",
    ):
        f[f"quirk.{name}_per_order"] = q[name] / n_orders
    return order_ids


def _items(s: _Scan, order_ids: set[str], product_ids: set[str], seller_ids: set[str]) -> None:
    f, scan = s.figures, s.scan
    n_orders = max(s.rows["orders"], 1)
    item_keys: set[tuple[str, str]] = set()
    dup_items = 0
    items_per_order: Counter[str] = Counter()
    orphans = Counter[str]()
    prices: list[float] = []
    freights: list[float] = []
    for r in scan("order_items"):
        oid = str(r[0])
        key = (oid, str(r[1]))
        dup_items += key in item_keys
        item_keys.add(key)
        items_per_order[oid] += 1
        orphans["order_id"] += oid not in order_ids
        orphans["product_id"] += r[2] not in product_ids
        orphans["seller_id"] += r[3] not in seller_ids
        prices.append(float(r[5] or 0))
        freights.append(float(r[6] or 0))
    f["duplicates.order_items"] = dup_items
    for k in ("order_id", "product_id", "seller_id"):
        f[f"orphans.order_items.{k}"] = orphans[k]
    with_items = max(len(items_per_order), 1)
    counts = Counter(items_per_order.values())
    f["share.items_per_order.1"] = counts[1] / with_items
    f["share.items_per_order.2"] = counts[2] / with_items
    f["share.items_per_order.3_or_more"] = sum(c for k, c in counts.items() if k >= 3) / with_items
    f["quirk.orders_without_items_per_order"] = len(order_ids - items_per_order.keys()) / n_orders
    for name, amounts in (("price", prices), ("freight", freights)):
        f[f"{name}.median"] = statistics.median(amounts) if amounts else 0.0
        f[f"{name}.mean"] = statistics.fmean(amounts) if amounts else 0.0


def _payments(s: _Scan, order_ids: set[str]) -> None:
    f, rows, scan = s.figures, s.rows, s.scan
    n_orders = max(rows["orders"], 1)
    pay_keys: set[tuple[str, str]] = set()
    dup_pays = 0
    pays_per_order: Counter[str] = Counter()
    types: Counter[str] = Counter()
    card_installments: Counter[str] = Counter()
    values: list[float] = []
    orphans_pay = zero = 0
    for r in scan("order_payments"):
        oid = str(r[0])
        key = (oid, str(r[1]))
        dup_pays += key in pay_keys
        pay_keys.add(key)
        pays_per_order[oid] += 1
        orphans_pay += oid not in order_ids
        types[str(r[2])] += 1
        if r[2] == "credit_card":
            card_installments["1" if r[3] == "1" else "gt_1"] += 1
        value = float(r[4] or 0)
        values.append(value)
        zero += value == 0
    n_pays = max(rows["order_payments"], 1)
    f["duplicates.order_payments"] = dup_pays
    f["orphans.order_payments.order_id"] = orphans_pay
    _share(types, n_pays, "share.payment_type", f)
    _share(
        card_installments,
        max(types["credit_card"], 1),
        "share.installments_of_credit_card",
        f,
    )
    f["share.orders_with_several_payments"] = sum(
        1 for c in pays_per_order.values() if c > 1
    ) / max(len(pays_per_order), 1)
    f["quirk.orders_without_payments_per_order"] = len(order_ids - pays_per_order.keys()) / n_orders
    f["quirk.not_defined_payments_per_order"] = types["not_defined"] / n_orders
    f["quirk.zero_payments_per_order"] = zero / n_orders
    f["payment_value.median"] = statistics.median(values) if values else 0.0
    f["payment_value.mean"] = statistics.fmean(values) if values else 0.0


def _reviews(s: _Scan, order_ids: set[str]) -> None:
    f, rows, scan = s.figures, s.rows, s.scan
    n_orders = max(rows["orders"], 1)
    review_keys: set[tuple[str, str]] = set()
    review_ids: Counter[str] = Counter()
    dup_reviews = orphans_rev = 0
    scores: Counter[str] = Counter()
    for r in scan("order_reviews"):
        rid, oid = str(r[0]), str(r[1])
        dup_reviews += (rid, oid) in review_keys
        review_keys.add((rid, oid))
        review_ids[rid] += 1
        orphans_rev += oid not in order_ids
        scores[str(r[2])] += 1
    f["duplicates.order_reviews"] = dup_reviews
    f["orphans.order_reviews.order_id"] = orphans_rev
    _share(scores, max(rows["order_reviews"], 1), "share.review_score", f)
    f["quirk.duplicate_review_id_rows_per_order"] = (
        sum(c - 1 for c in review_ids.values() if c > 1) / n_orders
    )


def _totals(s: _Scan) -> None:
    """Row counts, rows per order, the scale, malformed records."""
    f, rows = s.figures, s.rows
    n_orders = max(rows["orders"], 1)
    for table, n in rows.items():
        f[f"rows.{table}"] = n
    for table in ("customers", "products", "sellers", "geolocation"):
        f[f"ratio.{table}_per_order"] = rows[table] / n_orders
    for table, short in (
        ("order_items", "items"),
        ("order_payments", "payments"),
        ("order_reviews", "reviews"),
    ):
        f[f"ratio.{short}_per_order"] = rows[table] / n_orders
    f["scale"] = rows["orders"] / _ORDERS
    f["malformed_records"] = sum(s.errors.values())
    for what, count in s.errors.items():
        f[f"malformed.{what}"] = count


@dataclass(frozen=True)
class Failure:
    name: str
    found: float | None
    expected: str


def check(figures: Figures, quirks: bool = True) -> list[Failure]:
    """The figures outside their tolerance (empty: the folder matches the profile)."""
    failures = []
    for e in EXPECTED:
        value = figures.get(e.name, 0.0 if e.name.startswith("share.") else None)
        if value is None or not e.accepts(value, quirks, figures):
            failures.append(Failure(e.name, value, e.describe(quirks)))
    if figures.get("geolocation.noronha_out_of_country"):
        failures.append(Failure("geolocation.noronha_out_of_country", 1, "0 (53990 is Brazil)"))
    return failures
