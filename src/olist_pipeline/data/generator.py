"""Synthetic Olist data at any scale: the 9 files, original dialect, real quirks.

Guarantees:

- **Deterministic**: the same ``(scale, seed, quirks)`` gives the same bytes.
- **Constant memory**: rows are written as they are made. Orders, customers,
  items, payments and reviews come from one per-order loop; products, sellers
  and people (``customer_unique_id``) are pure functions of an index (ids are
  a keyed hash of it), so nothing grows with the scale except bounded caches.
- **Referential integrity**: every item's product and seller, every
  customer's order, every payment's and review's order exist.
- **Faithful format**: the contract's dialect (a string quoted only when it
  starts with a digit or needs quoting, money with 2 decimals, reviews with
  CRLF and always-quoted ids, translation file with BOM, CRLF, no final newline).
- **Profile**: scale 1.0 gives the real row counts, and the distributions of
  PROFILE.md (see :mod:`olist_pipeline.data.profile` for the tolerances).

Quirks (on by default, each switchable in :class:`Quirks`) are placed by a
quota (:class:`_Quota`), not by chance, so even a small scale shows each one
at least once and a count can be checked exactly.
"""

from __future__ import annotations

import bisect
import hashlib
import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields, replace
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import IO, Generic, TypeVar

from olist_pipeline.contracts.sources import CONTRACTS, SourceContract, contract_for
from olist_pipeline.data import vocab
from olist_pipeline.errors import UsageError

# Real row counts at scale 1.0 (PROFILE.md section 0).
REAL_ROWS = {
    "orders": 99_441,
    "products": 32_951,
    "sellers": 3_095,
    "geolocation": 1_000_163,
    "geolocation_prefixes": 19_015,
}

# Orders per purchase month (PROFILE.md: [U] full-table figures; 2016-11 has none).
MONTHS: tuple[tuple[str, int], ...] = (
    ("2016-09", 4), ("2016-10", 324), ("2016-12", 1), ("2017-01", 800), ("2017-02", 1780),
    ("2017-03", 2682), ("2017-04", 2404), ("2017-05", 3700), ("2017-06", 3245),
    ("2017-07", 4026), ("2017-08", 4331), ("2017-09", 4285), ("2017-10", 4631),
    ("2017-11", 7544), ("2017-12", 5673), ("2018-01", 7269), ("2018-02", 6728),
    ("2018-03", 7211), ("2018-04", 6939), ("2018-05", 6873), ("2018-06", 6167),
    ("2018-07", 6292), ("2018-08", 6512), ("2018-09", 16), ("2018-10", 4),
)  # fmt: skip

STATUSES: tuple[tuple[str, int], ...] = (
    ("delivered", 96478), ("shipped", 1107), ("canceled", 625), ("unavailable", 609),
    ("invoiced", 314), ("processing", 301), ("created", 5), ("approved", 2),
)  # fmt: skip

# Items per order (PROFILE.md: derived from order_item_id counts; >=10 spread 10..21).
ITEMS_PER_ORDER: tuple[tuple[int, int], ...] = (
    (1, 88863), (2, 7516), (3, 1322), (4, 505), (5, 204), (6, 198), (7, 22), (8, 8), (9, 3),
    (10, 8), (11, 4), (12, 5), (13, 2), (14, 2), (15, 2), (20, 1), (21, 1),
)  # fmt: skip

PAYMENTS_PER_ORDER: tuple[tuple[int, int], ...] = (
    (1, 96479), (2, 2382), (3, 301), (4, 108), (5, 52), (6, 36), (7, 28), (8, 11), (9, 9),
    (10, 5), (11, 8), (12, 8), (13, 3), (14, 2), (15, 2), (19, 2), (21, 1), (22, 1), (26, 1),
    (29, 1),
)  # fmt: skip

# Type of a single-payment order, calibrated so that all rows give the real mix
# (credit_card 73.9%, boleto 19.0%, voucher 5.6%, debit_card 1.5%): vouchers
# mostly come as the extra payments of multi-payment orders.
SINGLE_PAYMENT_TYPES: tuple[tuple[str, int], ...] = (
    ("credit_card", 74278), ("boleto", 19340), ("voucher", 1329), ("debit_card", 1529),
)  # fmt: skip

# Installments of credit-card rows (PROFILE.md table minus the 27,091 non-card rows at 1).
INSTALLMENTS: tuple[tuple[int, int], ...] = (
    (1, 25455), (2, 12413), (3, 10461), (4, 7098), (5, 5239), (6, 3920), (7, 1626),
    (8, 4268), (9, 644), (10, 5328), (11, 23), (12, 133), (13, 16), (14, 15), (15, 74),
    (16, 5), (17, 8), (18, 27), (20, 17), (21, 3), (22, 1), (23, 1), (24, 18),
)  # fmt: skip

# Review scores on time and late; together they give 5: 58%, 4: 19%, 3: 8%, 2: 3%, 1: 12%.
SCORES_ON_TIME: tuple[tuple[str, int], ...] = (
    ("5", 611), ("4", 199), ("3", 79), ("2", 30), ("1", 81),
)  # fmt: skip
SCORES_LATE: tuple[tuple[str, int], ...] = (
    ("5", 200), ("4", 120), ("3", 120), ("2", 60), ("1", 500),
)  # fmt: skip

# Products per category, most popular first (top 8 real; the tail invented).
TOP_CATEGORY_WEIGHTS = (3029, 2867, 2657, 2444, 2335, 1900, 1639, 1411)
N_CATEGORIES = 73
UNTRANSLATED = 2  # categories that products use but the translation table lacks


@dataclass(frozen=True)
class Quirks:
    """Which real-data quirks to reproduce (all on by default)."""

    duplicate_review_ids: bool = True  # one review text attached to several orders
    multiple_reviews_per_order: bool = True
    orders_without_items: bool = True  # mostly unavailable / canceled orders
    orders_without_payments: bool = True
    not_defined_payments: bool = True  # payment_type not_defined, value 0.00
    zero_payments: bool = True  # voucher rows of 0.00
    zero_installments: bool = True  # credit card rows with 0 installments
    contradictory_timestamps: bool = True  # carrier before purchase, delivered before carrier...
    products_without_category: bool = True
    untranslated_categories: bool = True  # categories missing from the translation table
    geolocation_duplicates: bool = True  # exact duplicate rows (~26%)
    geolocation_out_of_country: bool = True
    accent_variants: bool = True  # "sao paulo" and "são paulo"
    dirty_seller_cities: bool = True  # "sao paulo - sp", an e-mail, a number...
    customer_zips_missing_from_geolocation: bool = True

    @classmethod
    def none(cls) -> Quirks:
        return cls(**{f.name: False for f in fields(cls)})

    @classmethod
    def names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))

    def without(self, *names: str) -> Quirks:
        unknown = sorted(set(names) - set(self.names()))
        if unknown:
            raise UsageError(
                f"unknown quirk(s) {', '.join(unknown)}; known: {', '.join(self.names())}"
            )
        return replace(self, **dict.fromkeys(names, False))


# Quirk rates (per order, product, seller, prefix or row) from PROFILE.md.
RATES = {
    "review_id_reused": 814 / 99_441,
    "extra_review": 551 / 99_441,
    "no_review": 768 / 99_441,
    "no_payment": 1 / 99_441,
    "not_defined": 3 / 99_441,
    "zero_voucher": 6 / 99_441,
    "zero_installments": 2 / 99_441,
    "carrier_before_purchase": 166 / 99_441,
    "carrier_before_approval": (1_359 - 166) / 99_441,
    "delivered_before_approval": 61 / 99_441,
    "delivered_before_carrier": 23 / 99_441,
    "delivered_without_date": 8 / 99_441,
    "delivered_without_approval": 14 / 99_441,
    "canceled_with_delivery": 6 / 625,
    "review_before_order": 65 / 99_441,
    "product_without_category": 610 / 32_951,
    "product_without_dimensions": 2 / 32_951,
    "product_zero_weight": 4 / 32_951,
    "dirty_seller_city": 29 / 3_095,
    "geo_duplicate": 0.26,
    "geo_abroad_prefix": 9 / 19_015,
    "accented": 0.155,
    "zip_missing_from_geo": 157 / 14_994,
    "zero_freight": 383 / 112_650,
}

T = TypeVar("T")
_EPOCH = datetime(2016, 1, 1)
_MASK = (1 << 64) - 1


class _Pick(Generic[T]):
    """Weighted choice from a uniform number (bisect on cumulative weights)."""

    __slots__ = ("cum", "total", "values")

    def __init__(self, pairs: Sequence[tuple[T, float]]) -> None:
        self.values = [v for v, _ in pairs]
        acc = 0.0
        self.cum: list[float] = []
        for _, w in pairs:
            acc += w
            self.cum.append(acc)
        self.total = acc

    def __call__(self, u: float) -> T:
        return self.values[min(bisect.bisect_right(self.cum, u * self.total), len(self.cum) - 1)]


class _Quota:
    """Marks ``round(rate * n)`` (at least one when on) of ``n`` indices, evenly spread.

    Deterministic and memory-free: index ``i`` is marked when the running
    quota crosses an integer between ``i`` and ``i + 1`` (after an offset).
    """

    __slots__ = ("k", "n", "offset")

    def __init__(self, on: bool, rate: float, n: int, salt: int) -> None:
        self.n = max(n, 1)
        self.k = 0 if not on or n <= 0 else min(n, max(1, round(rate * n)))
        self.offset = salt % self.n

    def __call__(self, i: int) -> bool:
        if not self.k:
            return False
        j = (i + self.offset) % self.n
        return (j + 1) * self.k // self.n > j * self.k // self.n

    @property
    def count(self) -> int:
        return self.k


def _mix(x: int) -> int:
    """splitmix64 finaliser: a well-spread 64-bit hash of an integer."""
    x = (x + 0x9E3779B97F4A7C15) & _MASK
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK
    return x ^ (x >> 31)


class _Ids:
    """32-hex ids: a keyed hash of (kind, index), so no id needs to be remembered."""

    def __init__(self, seed: int) -> None:
        self._key = hashlib.blake2b(f"olist-synthetic-{seed}".encode(), digest_size=16).digest()

    def __call__(self, kind: str, index: int) -> str:
        return hashlib.blake2b(f"{kind}{index}".encode(), digest_size=16, key=self._key).hexdigest()


def _q(text: str) -> str:
    """The original quoting rule: quote a value starting with a digit, or needing quotes."""
    if text[:1].isdigit() or "," in text or '"' in text or "\n" in text or "\r" in text:
        return '"' + text.replace('"', '""') + '"'
    return text


def _qtext(text: str) -> str:
    """Review text: quoted only when it must be (that file has no digit rule)."""
    if "," in text or '"' in text or "\n" in text or "\r" in text:
        return '"' + text.replace('"', '""') + '"'
    return text


def _qid(hex_id: str) -> str:
    return f'"{hex_id}"' if hex_id[0] < "a" else hex_id


def _ts(seconds: float) -> str:
    return str(_EPOCH + timedelta(seconds=int(seconds)))


def _day(seconds: float) -> str:
    return str(_EPOCH + timedelta(days=int(seconds // 86400)))


def _month_starts() -> list[tuple[float, float]]:
    out = []
    for ym, _ in MONTHS:
        y, m = int(ym[:4]), int(ym[5:])
        start = datetime(y, m, 1)
        end = datetime(y + (m == 12), m % 12 + 1, 1)
        out.append(((start - _EPOCH).total_seconds(), (end - start).total_seconds()))
    return out


def _lognormal(u: float, median: float, sigma: float) -> float:
    # Inverse-CDF so a single uniform (from a hash) gives the draw.
    u = min(max(u, 1e-12), 1 - 1e-12)
    return median * math.exp(sigma * _inv_norm(u))


def _inv_norm(p: float) -> float:
    """Standard normal quantile (Acklam's rational approximation, |error| < 1.2e-9)."""
    a = (-39.69683028665376, 220.9460984245205, -275.9285104469687,
         138.3577518672690, -30.66479806614716, 2.506628277459239)  # fmt: skip
    b = (-54.47609879822406, 161.5858368580409, -155.6989798598866,
         66.80131188771972, -13.28068155288572)  # fmt: skip
    c = (-0.007784894002430293, -0.3223964580411365, -2.400758277161838,
         -2.549732539343734, 4.374664141464968, 2.938163982698783)  # fmt: skip
    d = (0.007784695709041462, 0.3224671290700398, 2.445134137142996, 3.754408661907416)
    if p < 0.02425:
        q = math.sqrt(-2 * math.log(p))
        return (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) / (
            (((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1
        )
    if p > 1 - 0.02425:
        return -_inv_norm(1 - p)
    q = p - 0.5
    r = q * q
    return (
        (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5])
        * q
        / (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1)
    )


def _price_cents(u: float, v: float) -> float:
    base = min(max(_lognormal(u, 74.0, 0.95), 0.85), 6735.0)
    if base < 3:
        return round(base, 2)
    whole = math.floor(base)
    cents = (0.90, 0.90, 0.90, 0.99, 0.00, 0.50)[int(v * 6)] if v < 0.85 else (v * 100 % 1)
    return round(whole + cents, 2)


@dataclass(frozen=True)
class _Product:
    index: int
    id: str
    seller: int
    price: float
    category: str | None


class _World:
    """Entities that are pure functions of (seed, index): products, sellers, people, zips."""

    def __init__(self, scale: float, seed: int, quirks: Quirks) -> None:
        self.seed = seed
        self.quirks = quirks
        self.ids = _Ids(seed)
        self.salt = _mix(seed)
        self.n_orders = max(1, round(REAL_ROWS["orders"] * scale))
        self.n_products = max(5, round(REAL_ROWS["products"] * scale))
        self.n_sellers = max(3, round(REAL_ROWS["sellers"] * scale))
        self.geo_rows = max(10, round(REAL_ROWS["geolocation"] * scale))
        total_prefixes = sum(hi - lo + 1 for s in vocab.STATES for lo, hi in s.ranges)
        # Prefixes grow slower than rows, so a small scale still spreads its
        # customers over many prefixes (as 99k real customers use 15k of them).
        prefixes = REAL_ROWS["geolocation_prefixes"] * math.sqrt(scale)
        self.prefix_density = min(0.85, prefixes / total_prefixes)
        self._build_prefixes()
        self.customer_state = _Pick([(s, s.customers) for s in vocab.STATES])
        self.seller_state = _Pick([(s, s.sellers) for s in vocab.STATES if s.sellers])
        cats = vocab.categories(N_CATEGORIES)
        self.categories = cats
        tail = [max(3, int(1200 * 0.93**i)) for i in range(N_CATEGORIES - 8 - UNTRANSLATED)]
        weights = [*TOP_CATEGORY_WEIGHTS, *tail, 10, 3]
        self.category_pick = _Pick([(c[0], w) for c, w in zip(cats, weights, strict=True)])
        self.untranslated = {c[0] for c in cats[-UNTRANSLATED:]}
        self.no_category = _Quota(
            quirks.products_without_category,
            RATES["product_without_category"],
            self.n_products,
            self.salt + 1,
        )
        self.dirty_city = _Quota(
            quirks.dirty_seller_cities, RATES["dirty_seller_city"], self.n_sellers, self.salt + 2
        )
        self.product = lru_cache(maxsize=1 << 15)(self._product)
        self.person = lru_cache(maxsize=1 << 15)(self._person)

    # -- uniforms from a hash --------------------------------------------------
    def u(self, kind: int, index: int, k: int = 0) -> float:
        return _mix(self.salt ^ (kind << 56) ^ (index << 8) ^ k) / 2**64

    # -- geography -------------------------------------------------------------
    @property
    def active_prefixes(self) -> int:
        return sum(len(pool) for pool in self._pools.values())

    def prefix_active(self, p: int) -> bool:
        return 0 <= p < len(self._active) and self._active[p] == 1

    def _build_prefixes(self) -> None:
        """Which zip prefixes exist (geolocation lists them) and, per state, the pools.

        Bounded by the 100,000 possible prefixes, whatever the scale.
        """
        self._active = bytearray(100_000)
        threshold = int(self.prefix_density * 2**64)
        self._pools: dict[tuple[str, bool], list[int]] = {}
        for s in vocab.STATES:
            lo, hi = s.ranges[0]
            anchors = {lo, lo + 7, lo + 13, hi - 3}  # every state has some, at any scale
            capital_end = lo + s.capital_block
            for a, b in s.ranges:
                for p in range(a, b + 1):
                    if (
                        p in anchors
                        or p == vocab.NORONHA_ZIP
                        or (_mix(self.salt ^ (p * 7919)) < threshold)
                    ):
                        self._active[p] = 1
                        capital = (a, b) == s.ranges[0] and p < capital_end
                        self._pools.setdefault((s.code, capital), []).append(p)

    def city_of(self, p: int) -> tuple[str, vocab.State]:
        state = self.state_of(p)
        lo = state.ranges[0][0]
        if lo <= p < lo + state.capital_block:
            return state.capital, state
        return vocab.town_name(_mix(self.salt ^ (p // 10)) % 10_000), state

    @staticmethod
    @lru_cache(maxsize=1 << 12)
    def state_of(p: int) -> vocab.State:
        for s in vocab.STATES:
            for lo, hi in s.ranges:
                if lo <= p <= hi:
                    return s
        return vocab.STATES[0]

    def center(self, p: int) -> tuple[float, float]:
        if p == vocab.NORONHA_ZIP:
            return vocab.NORONHA
        city, state = self.city_of(p)
        spread = 0.08 if city == state.capital else 1.6
        du = self.u(9, p, 1) - 0.5
        dv = self.u(9, p, 2) - 0.5
        return state.lat + du * spread, state.lng + dv * spread

    def pick_zip(self, state: vocab.State, capital: bool, kind: int, index: int) -> int:
        pool = self._pools.get((state.code, capital)) or self._pools[(state.code, not capital)]
        return pool[int(self.u(kind, index, 100) * len(pool))]

    # -- people, sellers, products ----------------------------------------------
    def _person(self, person: int) -> tuple[str, str, str, str]:
        state = self.customer_state(self.u(1, person))
        capital = self.u(1, person, 1) < state.capital_share
        zip_code = self.pick_zip(state, capital, 1, person)
        if self.quirks.customer_zips_missing_from_geolocation and (
            self.u(1, person, 2) < RATES["zip_missing_from_geo"]
        ):
            # A prefix geolocation does not list (157 of 14,994 in the real data).
            lo, hi = state.ranges[-1]
            for k in range(16):
                cand = lo + int(self.u(1, person, 300 + k) * (hi - lo + 1))
                if not self.prefix_active(cand):
                    zip_code = cand
                    break
        city, _ = self.city_of(zip_code)
        return self.ids("u", person), f"{zip_code:05d}", city, state.code

    def seller_row(self, i: int) -> tuple[str, str, str, str]:
        state = self.seller_state(self.u(2, i))
        capital = self.u(2, i, 1) < min(0.8, state.capital_share + 0.2)
        zip_code = self.pick_zip(state, capital, 2, i)
        city, _ = self.city_of(zip_code)
        if self.dirty_city(i):
            city = _dirty_city(city, state.code, self.u(2, i, 4))
        return self.ids("s", i), f"{zip_code:05d}", city, state.code

    def _product(self, i: int) -> _Product:
        # Popular sellers hold many products (a skewed map index -> seller).
        seller = int(self.n_sellers * self.u(3, i, 1) ** 2.2)
        price = _price_cents(self.u(3, i, 2), self.u(3, i, 3))
        cat: str | None = self.category_pick(self.u(3, i, 4))
        spot = i - self.n_products // 3
        if self.quirks.untranslated_categories and 0 <= spot < UNTRANSLATED:
            # Each untranslated category has products even at a small scale.
            cat = self.categories[-1 - spot][0]
        elif cat in self.untranslated and not self.quirks.untranslated_categories:
            cat = self.categories[0][0]
        elif self.no_category(i):
            cat = None
        return _Product(i, self.ids("p", i), seller, price, cat)

    def pick_product(self, u: float) -> int:
        # Skewed popularity: a few products sell a lot, most sell rarely.
        return min(self.n_products - 1, int(self.n_products * u**1.6))


def _dirty_city(city: str, state: str, u: float) -> str:
    variants: tuple[Callable[[], str], ...] = (
        lambda: f"{city} - {state.lower()}",
        lambda: f"{city} / {city}",
        lambda: f"{state.lower()} / {state.lower()}",
        lambda: f"{city.replace(' ', '')}/{state.lower()}",
        lambda: vocab.accented(city) if vocab.accented(city) != city else f"{city}p",
        lambda: city.replace(" ", "  ", 1) if " " in city else f"{city}p",
        lambda: f"{city}, {state.lower()}, brasil",
        lambda: f"{city} \\{city}",
        lambda: "vendas@lojadomercado.com.br",
        lambda: "04482255",
        lambda: f"{city} d\u00b4oeste",  # an acute accent as the apostrophe
    )
    return variants[min(int(u * len(variants)), len(variants) - 1)]()


class _Writer:
    """One output file in its contract's dialect; counts rows."""

    def __init__(self, out_dir: Path, contract: SourceContract) -> None:
        self.contract = contract
        self.path = out_dir / contract.file_name
        self.eol = contract.dialect.line_terminator
        self.rows = 0
        self._fh: IO[str] = self.path.open("w", encoding="utf-8", newline="")
        if contract.dialect.bom:
            self._fh.write("\ufeff")
        header = contract.header
        line = (
            ",".join(f'"{h}"' for h in header)
            if contract.dialect.quote_header
            else (",".join(header))
        )
        self._fh.write(line)
        self._buf: list[str] = []

    def write(self, line: str) -> None:
        self._buf.append(line)
        self.rows += 1
        if len(self._buf) >= 4096:
            self._flush()

    def _flush(self) -> None:
        if self._buf:
            self._fh.write(self.eol + self.eol.join(self._buf))
            self._buf.clear()

    def close(self) -> None:
        self._flush()
        if self.contract.dialect.final_newline:
            self._fh.write(self.eol)
        self._fh.close()


def _split_cents(total: float, parts: int, rng: random.Random) -> list[int]:
    """``total`` in cents over ``parts`` payments, each at least one cent.

    The first payment (card or boleto) carries most of it; vouchers the rest.
    """
    cents = max(round(total * 100), parts)
    if parts == 1:
        return [cents]
    weights = [1.5 + rng.random()] + [0.1 + 0.5 * rng.random() for _ in range(parts - 1)]
    scale = (cents - parts) / sum(weights)
    out = [1 + int(w * scale) for w in weights]
    out[0] += cents - sum(out)
    return out


def _money(v: float) -> str:
    return f"{v:.2f}"


@dataclass(frozen=True)
class GenerateResult:
    out_dir: Path
    rows: dict[str, int]
    seconds: float


def generate(
    out_dir: Path | str,
    scale: float = 0.01,
    seed: int = 42,
    quirks: Quirks | None = None,
) -> GenerateResult:
    """Write the 9 Olist files for ``scale`` (1.0 = real row counts) into ``out_dir``."""
    if not (0 < scale <= 100):
        raise UsageError(f"--scale {scale} is out of range; use a value in (0, 100]")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    q = quirks if quirks is not None else Quirks()
    t0 = time.monotonic()
    world = _World(scale, seed, q)
    rows: dict[str, int] = {}
    rows.update(_write_translation(out, world))
    rows.update(_write_products(out, world))
    rows.update(_write_sellers(out, world))
    rows.update(_write_geolocation(out, world))
    rows.update(_write_orders(out, world))
    return GenerateResult(out, {c.table: rows[c.table] for c in CONTRACTS}, time.monotonic() - t0)


def _write_translation(out: Path, world: _World) -> dict[str, int]:
    w = _Writer(out, contract_for("category_translation"))
    for pt, en in world.categories:
        if world.quirks.untranslated_categories and pt in world.untranslated:
            continue
        w.write(f"{_q(pt)},{_q(en)}")
    w.close()
    return {"category_translation": w.rows}


def _write_products(out: Path, world: _World) -> dict[str, int]:
    w = _Writer(out, contract_for("products"))
    no_dims = _Quota(
        world.quirks.products_without_category,
        RATES["product_without_dimensions"],
        world.n_products,
        world.salt + 3,
    )
    zero_weight = _Quota(True, RATES["product_zero_weight"], world.n_products, world.salt + 4)
    photos_pick = _Pick([(1, 50), (2, 19), (3, 11), (4, 8), (5, 5), (6, 4), (7, 2), (8, 1)])
    u = world.u
    for i in range(world.n_products):
        p = world._product(i)
        if p.category is None:
            head = ",,,"
        else:
            name_len = min(76, max(5, round(48 + 10 * _inv_norm(_clip(u(4, i, 1))))))
            desc_len = min(3992, max(4, round(_lognormal(u(4, i, 2), 595, 0.75))))
            photos = photos_pick(u(4, i, 3))
            head = f"{_q(p.category)},{name_len},{desc_len},{photos}"
        if no_dims(i):
            dims = ",,,"
        else:
            weight = 0 if zero_weight(i) else min(40425, round(_lognormal(u(4, i, 4), 700, 1.5)))
            length = min(105, max(7, round(_lognormal(u(4, i, 5), 25, 0.5))))
            height = min(105, max(2, round(_lognormal(u(4, i, 6), 13, 0.7))))
            width = min(118, max(6, round(_lognormal(u(4, i, 7), 20, 0.45))))
            dims = f"{weight},{length},{height},{width}"
        w.write(f"{_qid(p.id)},{head},{dims}")
    w.close()
    return {"products": w.rows}


def _clip(u: float) -> float:
    return min(max(u, 1e-9), 1 - 1e-9)


def _write_sellers(out: Path, world: _World) -> dict[str, int]:
    w = _Writer(out, contract_for("sellers"))
    for i in range(world.n_sellers):
        sid, zip_code, city, state = world.seller_row(i)
        w.write(f"{_qid(sid)},{_q(zip_code)},{_q(city)},{state}")
    w.close()
    return {"sellers": w.rows}


def _write_geolocation(out: Path, world: _World) -> dict[str, int]:
    w = _Writer(out, contract_for("geolocation"))
    q = world.quirks
    rng = random.Random(world.salt ^ 0x6E0)  # noqa: S311 (synthetic data, not secrets)
    prefixes = world.active_prefixes
    abroad = _Quota(q.geolocation_out_of_country, RATES["geo_abroad_prefix"], prefixes, world.salt)
    dup_rate = RATES["geo_duplicate"] if q.geolocation_duplicates else 0.0
    target = world.geo_rows
    written = 0
    k = 0
    for state in vocab.STATES:
        for lo, hi in state.ranges:
            for p in range(lo, hi + 1):
                if not world.prefix_active(p):
                    continue
                k += 1
                # Rows of this prefix: spread around the mean, the total kept on target.
                remaining = prefixes - k + 1
                mean = (target - written) / remaining
                n = max(1, round(mean * (0.3 + 1.4 * rng.random())))
                if remaining == 1:
                    n = max(1, target - written)
                lat0, lng0 = world.center(p)
                city, _ = world.city_of(p)
                accent = vocab.accented(city) if q.accent_variants else city
                zp = f'"{p:05d}"'
                last = ""
                foreign_row = rng.randrange(n) if abroad(k - 1) and p != vocab.NORONHA_ZIP else -1
                for j in range(n):
                    if last and j != foreign_row and rng.random() < dup_rate:
                        w.write(last)
                        continue
                    if j == foreign_row:
                        lat, lng = vocab.ABROAD[rng.randrange(len(vocab.ABROAD))]
                    else:
                        lat, lng = lat0, lng0
                    lat += (rng.random() - 0.5) * 0.02
                    lng += (rng.random() - 0.5) * 0.02
                    name = accent if accent != city and rng.random() < RATES["accented"] else city
                    last = f"{zp},{lat!r},{lng!r},{_q(name)},{state.code}"
                    w.write(last)
                written += n
    w.close()
    return {"geolocation": w.rows}


def _review_text(rng: random.Random, score: str) -> tuple[str | None, str | None]:
    title = rng.choice(vocab.REVIEW_TITLES) if rng.random() < 0.117 else None
    if rng.random() < 0.413:
        pool = vocab.REVIEW_GOOD if score in ("4", "5") else vocab.REVIEW_BAD
        msg = rng.choice(pool)
        r = rng.random()
        if r < 0.095:
            # Embedded CRLF line breaks, as in about 4% of all real records.
            msg = f"{msg}.\r\n{rng.choice(vocab.REVIEW_TAIL)}"
        elif r < 0.099:
            msg = f'{msg}, "{rng.choice(vocab.REVIEW_TAIL).lower()}"'
        elif r < 0.5:
            msg = f"{msg}. {rng.choice(vocab.REVIEW_TAIL)}"
    else:
        msg = None
    return title, msg


@dataclass(frozen=True)
class _Lifecycle:
    """An order's timestamps (epoch seconds; None where the data leaves them empty)."""

    status: str
    purchase: float
    approved: float | None
    carrier: float | None
    delivered: float | None
    estimated: float


_DAY = 86400.0
# Share of orders by a customer_unique_id seen before (99,441 orders, 96,096 people).
_REPEAT_RATE = 1 - 96_096 / 99_441


class _Orders:
    """Writes the five order-grained files, one order at a time, in named steps.

    The steps draw from one random stream in a fixed order (who, when, items, payments,
    reviews), so a seed gives the same files whatever the steps' shape.
    """

    def __init__(self, out: Path, world: _World) -> None:
        q = world.quirks
        self.world = world
        self.quirks = q
        self.rng = random.Random(world.salt ^ 0x0D)  # noqa: S311 (synthetic data, not secrets)
        self.orders = _Writer(out, contract_for("orders"))
        self.customers = _Writer(out, contract_for("customers"))
        self.items = _Writer(out, contract_for("order_items"))
        self.payments = _Writer(out, contract_for("order_payments"))
        self.reviews = _Writer(out, contract_for("order_reviews"))
        self.months = _month_starts()
        self.month_pick = _Pick([(i, w) for i, (_, w) in enumerate(MONTHS)])
        self.status_pick = _Pick(STATUSES)
        self.items_pick = _Pick(ITEMS_PER_ORDER)
        self.pays_pick = _Pick(PAYMENTS_PER_ORDER)
        self.single_type = _Pick(SINGLE_PAYMENT_TYPES)
        self.inst_pick = _Pick(INSTALLMENTS)
        self.on_time_score = _Pick(SCORES_ON_TIME)
        self.late_score = _Pick(SCORES_LATE)
        ct = q.contradictory_timestamps
        self.quota = {
            name: _Quota(flag, RATES[name], world.n_orders, world.salt + 17 * i)
            for i, (name, flag) in enumerate(
                (
                    ("no_payment", q.orders_without_payments),
                    ("not_defined", q.not_defined_payments),
                    ("zero_voucher", q.zero_payments),
                    ("zero_installments", q.zero_installments),
                    ("carrier_before_purchase", ct),
                    ("carrier_before_approval", ct),
                    ("delivered_before_approval", ct),
                    ("delivered_before_carrier", ct),
                    ("delivered_without_date", ct),
                    ("delivered_without_approval", ct),
                    ("review_before_order", ct),
                )
            )
        }
        self.persons = 0
        self.last_review: tuple[str, str, str | None, str | None] | None = None

    def write_all(self) -> dict[str, int]:
        for i in range(self.world.n_orders):
            order_id = self.world.ids("o", i)
            customer_id = self.customer(i)
            life = self.lifecycle(i)
            self.write_order(order_id, customer_id, life)
            total = self.write_items(_qid(order_id), life)
            self.write_payments(i, _qid(order_id), total)
            self.write_reviews(i, order_id, life)
        writers = (self.orders, self.customers, self.items, self.payments, self.reviews)
        for w in writers:
            w.close()
        return {w.contract.table: w.rows for w in writers}

    def customer(self, i: int) -> str:
        """Who: a new person, or one who bought before (customer_unique_id)."""
        rng = self.rng
        if self.persons and rng.random() < _REPEAT_RATE:
            if rng.random() < 0.012:
                # A few heavy buyers (the real top customer_unique_id has 17 orders).
                person = int(rng.random() ** 3 * min(self.persons, 12))
            else:
                person = rng.randrange(self.persons)
        else:
            person = self.persons
            self.persons += 1
        uid, zip_code, city, state = self.world.person(person)
        customer_id = self.world.ids("c", i)
        self.customers.write(f"{_qid(customer_id)},{_qid(uid)},{_q(zip_code)},{_q(city)},{state}")
        return customer_id

    def lifecycle(self, i: int) -> _Lifecycle:
        """When: month weights give the 2017-11 peak; the milestones follow the status."""
        rng, q, day = self.rng, self.quirks, _DAY
        start, length = self.months[self.month_pick(rng.random())]
        purchase = start + int(rng.random() * length)
        status = self.status_pick(rng.random())
        approved: float | None = purchase + min(rng.expovariate(1 / 40_000), 20 * day) + 60
        carrier: float | None = None
        delivered: float | None = None
        if status in ("shipped", "delivered") or (status == "canceled" and rng.random() < 0.12):
            assert approved is not None
            carrier = approved + rng.expovariate(1 / (2.6 * day)) + 3600
        if status == "delivered":
            assert carrier is not None
            delivered = carrier + _lognormal(rng.random(), 7.5 * day, 0.5)
        elif (
            status == "canceled"
            and q.contradictory_timestamps
            and carrier is not None
            and rng.random() < RATES["canceled_with_delivery"] / 0.12
        ):
            delivered = carrier + _lognormal(rng.random(), 7.5 * day, 0.5)
        if status == "created" or (status == "canceled" and rng.random() < 0.225):
            approved = None
            carrier = None
        estimated = math.floor((purchase + (10 + rng.random() * 30) * day) / day) * day
        if status == "delivered":
            assert approved is not None and carrier is not None and delivered is not None
            approved, carrier, delivered = self._contradictions(
                i, purchase, approved, carrier, delivered
            )
        return _Lifecycle(status, purchase, approved, carrier, delivered, estimated)

    def _contradictions(
        self, i: int, purchase: float, approved: float, carrier: float, delivered: float
    ) -> tuple[float | None, float, float | None]:
        """The real data's impossible milestone orders, each at its measured rate."""
        rng, quota, day = self.rng, self.quota, _DAY
        if quota["carrier_before_purchase"](i):
            carrier = purchase - 3600 - rng.random() * 2 * day
        elif quota["carrier_before_approval"](i):
            carrier = approved - 60 - rng.random() * (approved - purchase)
        out_delivered: float | None = delivered
        if quota["delivered_before_approval"](i):
            out_delivered = approved - 60 - rng.random() * day
        elif quota["delivered_before_carrier"](i):
            out_delivered = carrier - 60 - rng.random() * day
        if quota["delivered_without_date"](i):
            out_delivered = None
        out_approved: float | None = None if quota["delivered_without_approval"](i) else approved
        return out_approved, carrier, out_delivered

    def write_order(self, order_id: str, customer_id: str, life: _Lifecycle) -> None:
        def ts(t: float | None) -> str:
            return "" if t is None else _ts(t)

        self.orders.write(
            f"{_qid(order_id)},{_qid(customer_id)},{life.status},{_ts(life.purchase)},"
            f"{ts(life.approved)},{ts(life.carrier)},{ts(life.delivered)},{_day(life.estimated)}"
        )

    def write_items(self, oq: str, life: _Lifecycle) -> float:
        """What: items (most orders one; unavailable ones mostly none); the order's total."""
        rng, q, world, status = self.rng, self.quirks, self.world, life.status
        no_items = q.orders_without_items and (
            status == "created"
            or (status == "unavailable" and rng.random() < 0.99)
            or (status == "canceled" and rng.random() < 0.26)
            or (status == "invoiced" and rng.random() < 0.0064)
            or (status == "shipped" and rng.random() < 0.0009)
        )
        if no_items:
            return round(_lognormal(rng.random(), 90.0, 0.8), 2)
        total = 0.0
        k = self.items_pick(rng.random())
        limit = _ts((life.approved or life.purchase) + 6 * _DAY + rng.random() * 2 * _DAY)
        product = world.product(world.pick_product(rng.random()))
        freight = _lognormal(rng.random(), 16.3, 0.6)
        if rng.random() < RATES["zero_freight"]:
            freight = 0.0
        freight = round(min(freight, 409.68), 2)
        for item in range(1, k + 1):
            if item > 1 and rng.random() > 0.55:
                product = world.product(world.pick_product(rng.random()))
            seller_id = world.ids("s", product.seller)
            total += product.price + freight
            self.items.write(
                f"{oq},{item},{_qid(product.id)},{_qid(seller_id)},"
                f"{limit},{_money(product.price)},{_money(freight)}"
            )
        return total

    def write_payments(self, i: int, oq: str, total: float) -> None:
        """How paid: one payment mostly; vouchers make the multi-payment orders."""
        rng, quota = self.rng, self.quota
        if quota["no_payment"](i):
            return
        if quota["not_defined"](i):
            self.payments.write(f"{oq},1,not_defined,1,0.00")
            return
        m = self.pays_pick(rng.random())
        if m == 1:
            kinds = [self.single_type(rng.random())]
        else:
            kinds = ["credit_card" if rng.random() < 0.85 else "boleto"]
            kinds += ["voucher"] * (m - 1)
        for seq, (kind, cents) in enumerate(
            zip(kinds, _split_cents(total, m, rng), strict=True), start=1
        ):
            inst = self.inst_pick(rng.random()) if kind == "credit_card" else 1
            if kind == "credit_card" and quota["zero_installments"](i):
                inst = 0
            self.payments.write(f"{oq},{seq},{kind},{inst},{cents // 100}.{cents % 100:02d}")
        if quota["zero_voucher"](i):
            self.payments.write(f"{oq},{len(kinds) + 1},voucher,1,0.00")

    def write_reviews(self, i: int, order_id: str, life: _Lifecycle) -> None:
        """What they said: one review mostly; some none, some several."""
        rng, q, day = self.rng, self.quirks, _DAY
        if rng.random() < RATES["no_review"]:
            return
        late = life.delivered is not None and life.delivered > life.estimated + day
        score = (self.late_score if late else self.on_time_score)(rng.random())
        basis = life.delivered if life.delivered is not None else life.estimated
        created = math.floor(basis / day + 1 + rng.random() * 2) * day
        if self.quota["review_before_order"](i):
            created = math.floor(life.purchase / day - 1 - rng.random() * 3) * day
        answered = created + rng.expovariate(1 / (2.5 * day)) + 600
        n_reviews = (
            2 if q.multiple_reviews_per_order and (rng.random() < RATES["extra_review"]) else 1
        )
        for r in range(n_reviews):
            reuse = (
                r == 0
                and self.last_review is not None
                and q.duplicate_review_ids
                and rng.random() < RATES["review_id_reused"]
            )
            if reuse and self.last_review is not None:
                rid, score_r, title, msg = self.last_review
            else:
                rid = self.world.ids("r", i * 4 + r)
                score_r = score
                title, msg = _review_text(rng, score_r)
            self.last_review = (rid, score_r, title, msg)
            self.reviews.write(
                f'"{rid}","{order_id}",{score_r},{_qtext(title) if title else ""},'
                f"{_qtext(msg) if msg else ''},{_ts(created + r * day)},{_ts(answered + r * day)}"
            )


def _write_orders(out: Path, world: _World) -> dict[str, int]:
    return _Orders(out, world).write_all()
