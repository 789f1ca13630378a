"""Split a folder of Olist files into daily increments: ``DIR/YYYY-MM-DD/``.

Each day folder holds the 9 files in the source's own format (its header
bytes, BOM, line terminator and final newline, copied from the source file)
and the rows that *became known* that day:

- **orders**: a first version on the purchase day, and a later version on
  each day one of its timestamps (approval, carrier, customer delivery) falls
  on. A version carries only the timestamps known by the end of its day and a
  status derived from them (``created``, ``approved``, ``shipped``,
  ``delivered``); the last version is the source record itself, byte for
  byte, so it also carries the final status (``canceled``, ``invoiced``...).
  The estimated delivery date is known at purchase. A timestamp before the
  purchase (a real-data quirk) is known on the purchase day, since an order
  cannot appear before it exists.
- **order items, payments**: with their order, on its purchase day.
- **reviews**: on the day they were answered (``review_answer_timestamp``),
  or the order's purchase day when that is later (a review cannot precede
  the order it is about).
- **customers**: on the purchase day of their order; **sellers, products**:
  on the purchase day of the first item that uses them.
- **geolocation, category translation**: copied whole into the first folder.

Anything that cannot be dated (a malformed record, an unreadable date, a row
no order refers to) goes to the first folder, so nothing is lost. Only days
with at least one row get a folder; every folder holds all 9 files (header
only where the day has no row), so each one is a complete ingest source.

**Newest version wins.** Within one folder a key occurs once, except where
the source itself repeats a key: such repeats all land in the folder of the
key's first occurrence, in source order. So the union of all folders, taking
for each natural key the row of the *latest day folder* and, inside it, the
*first* row (the lowest row number, as staging de-duplicates within a batch),
equals the source folder de-duplicated the same way. Ordering versions needs
the day a row belongs to (its data interval), not the time it was loaded:
ingest records the interval of a daily batch in ``audit.batches``.

Memory is bounded by the per-order maps (order id -> purchase day, and the
first day of each customer, seller and product), not by the rows: rows are
buffered per day and appended to their files in chunks.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from olist_pipeline.contracts.sources import CONTRACTS, SourceContract, contract_for
from olist_pipeline.data.dialect import format_record
from olist_pipeline.data.reader import Values, iter_records
from olist_pipeline.errors import UsageError

MARKER = "_split.json"  # written last: the split is complete
FIRST = ""  # sorts before every date: "the first folder"
_FLUSH_CHARS = 8 << 20  # buffered text per table before it is appended to the files

# Order timestamps in the order they normally happen, and the status each implies.
_MILESTONES = (
    ("order_approved_at", "approved"),
    ("order_delivered_carrier_date", "shipped"),
    ("order_delivered_customer_date", "delivered"),
)


def day_of(text: str | None) -> str | None:
    """``YYYY-MM-DD`` of a timestamp text, or None when it is empty or not a date."""
    if not text or len(text) < 10:
        return None
    head = text[:10]
    try:
        date.fromisoformat(head)
    except ValueError:
        return None
    return head


def order_versions(values: Values, contract: SourceContract) -> list[tuple[str, Values | None]]:
    """(day, values) of each version of an order, oldest first; the last is ``None``.

    ``None`` stands for the source record itself (written byte for byte).
    An order without a readable purchase day has one version, in the first folder.
    """
    col = {c.name: i for i, c in enumerate(contract.columns)}
    purchase = day_of(values[col["order_purchase_timestamp"]])
    if purchase is None:
        return [(FIRST, None)]
    known: list[tuple[str, str]] = []  # (day known, column)
    for name, _ in _MILESTONES:
        d = day_of(values[col[name]])
        if d is not None:
            known.append((max(d, purchase), name))
    days = sorted({purchase, *(d for d, _ in known)})
    versions: list[tuple[str, Values | None]] = []
    for day in days[:-1]:
        row = list(values)
        status = "created"
        for name, implied in _MILESTONES:
            d = day_of(values[col[name]])
            if d is not None and max(d, purchase) <= day:
                status = implied
            else:
                row[col[name]] = None
        row[col["order_status"]] = status
        versions.append((day, tuple(row)))
    versions.append((days[-1], None))
    return versions


def _file_format(path: Path) -> tuple[bytes, bytes, bool]:
    """(header bytes incl. BOM, line terminator, whether the file ends with one)."""
    with path.open("rb") as fh:
        first = fh.readline()
        fh.seek(0, 2)
        size = fh.tell()
        fh.seek(max(0, size - 2))
        tail = fh.read()
    eol = b"\r\n" if first.endswith(b"\r\n") else b"\n"
    header = first[: -len(eol)] if first.endswith(eol) else first
    # A header-only file ends with the terminator only when the format has a final one.
    final = first.endswith(eol) and tail.endswith(eol)
    return header, eol, final


class _DayFiles:
    """One table's files across the day folders: rows buffered per day, appended in chunks."""

    def __init__(self, out: Path, contract: SourceContract, src: Path) -> None:
        self.out = out
        self.contract = contract
        self.header, self.eol, self.final_newline = _file_format(src / contract.file_name)
        self.rows: dict[str, int] = {}
        self._buf: dict[str, list[str]] = {}
        self._chars = 0

    def add(self, day: str, line: str) -> None:
        self._buf.setdefault(day, []).append(line)
        self.rows[day] = self.rows.get(day, 0) + 1
        self._chars += len(line)
        if self._chars >= _FLUSH_CHARS:
            self.flush()

    def _path(self, day: str) -> Path:
        folder = self.out / day
        folder.mkdir(exist_ok=True)
        return folder / self.contract.file_name

    def flush(self) -> None:
        eol = self.eol.decode()
        for day, lines in self._buf.items():
            path = self._path(day)
            new = not path.exists()
            with path.open("ab") as fh:
                if new:
                    fh.write(self.header)
                fh.write((eol + eol.join(lines)).encode("utf-8", "surrogateescape"))
        self._buf.clear()
        self._chars = 0

    def close(self, days: list[str]) -> None:
        """Flush, then give every day folder this file (header only where empty)."""
        self.flush()
        for day in days:
            path = self._path(day)
            if not path.exists():
                path.write_bytes(self.header)
            if self.final_newline:
                with path.open("ab") as fh:
                    fh.write(self.eol)


@dataclass
class SplitResult:
    days: list[str]
    rows: dict[str, dict[str, int]]  # table -> day -> rows
    seconds: float
    extra_versions: int = 0  # order rows beyond one per order (status updates)
    undated: dict[str, int] = field(default_factory=dict)  # rows put in the first folder


def _records(src: Path, table: str) -> Iterator[tuple[str, Values | None]]:
    """(raw text, values or None when malformed) of every record of a source file."""
    for r in iter_records(src / contract_for(table).file_name, contract_for(table)):
        yield r.raw, r.values


def _index(contract: SourceContract, *names: str) -> tuple[int, ...]:
    cols = [c.name for c in contract.columns]
    return tuple(cols.index(n) for n in names)


def split(src: Path, out: Path, start: str | None = None) -> SplitResult:
    """Write ``src``'s rows as daily increments under ``out`` (replaced atomically).

    ``start`` (YYYY-MM-DD): an initial load. Everything known by the end of that
    day goes to its folder, as one newest version per key (the history a
    platform starts from); daily folders follow from the next day on.
    """
    if start is not None and day_of(start) != start:
        raise UsageError(f"--start {start!r} is not a day; use YYYY-MM-DD")
    from olist_pipeline.data.datadir import require_complete

    t0 = time.monotonic()
    src = require_complete(src)
    out = out.resolve()
    if out == src.resolve() or out in src.resolve().parents or src.resolve() in out.parents:
        raise UsageError(f"--out {out} overlaps the source folder {src}; choose a separate folder")
    if out.exists() and any(out.iterdir()) and not (out / MARKER).is_file():
        raise UsageError(
            f"{out} exists and is not an earlier split (no {MARKER}); "
            "choose an empty or new --out folder"
        )
    tmp = out.with_name(f".{out.name}.partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        result = _split_into(src, tmp, start or "")
        (tmp / MARKER).write_text(
            json.dumps(
                {
                    "source": str(src),
                    "days": result.days,
                    "rows": {t: sum(d.values()) for t, d in result.rows.items()},
                    "extra_order_versions": result.extra_versions,
                    "newest": "latest day folder, then the first row of a key in its file",
                    "start": start,
                },
                indent=2,
            )
            + "\n",
            encoding="utf-8",
        )
        if out.exists():
            shutil.rmtree(out)
        tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    result.seconds = round(time.monotonic() - t0, 2)
    return result


def _split_into(src: Path, out: Path, start: str) -> SplitResult:  # noqa: PLR0915
    files = {c.table: _DayFiles(out, c, src) for c in CONTRACTS}
    undated: dict[str, int] = {}
    order_day: dict[str, str] = {}  # order id -> purchase day
    first_seen: dict[str, dict[str, str]] = {"customers": {}, "sellers": {}, "products": {}}

    def seen(table: str, key: str | None, day: str) -> None:
        if key is None or not day:
            return
        days = first_seen[table]
        if key not in days or day < days[key]:
            days[key] = day

    def keyed(table: str, day_for: Callable[[Values], str]) -> None:
        """Rows of a keyed table; repeats of a key follow its first occurrence."""
        contract = contract_for(table)
        key_at = _index(contract, *contract.primary_key)
        placed: dict[tuple[str | None, ...], str] = {}
        for raw, values in _records(src, table):
            if values is None:
                day = FIRST
            else:
                key = tuple(values[i] for i in key_at)
                day = placed.get(key) or placed.setdefault(key, max(day_for(values), start))
            if day == FIRST:
                undated[table] = undated.get(table, 0) + 1
            files[table].add(day, raw)

    # orders: versions; remember each order's purchase day and its customer's.
    orders = contract_for("orders")
    o_id, o_cust = _index(orders, "order_id", "customer_id")
    extra = 0
    placed_orders: dict[str, str] = {}
    for raw, values in _records(src, "orders"):
        if values is None:
            files["orders"].add(FIRST, raw)
            undated["orders"] = undated.get("orders", 0) + 1
            continue
        oid = values[o_id] or ""
        if oid in placed_orders:  # a repeated key follows the first occurrence
            files["orders"].add(placed_orders[oid], raw)
            continue
        versions = _from(order_versions(values, orders), start)
        for day, version in versions:
            files["orders"].add(day, raw if version is None else format_record(orders, version))
        extra += len(versions) - 1
        placed_orders[oid] = versions[-1][0]
        purchase = versions[0][0]
        if purchase == FIRST:
            undated["orders"] = undated.get("orders", 0) + 1
            continue
        order_day[oid] = purchase
        seen("customers", values[o_cust], purchase)
    del placed_orders

    items = contract_for("order_items")
    i_order, i_product, i_seller = _index(items, "order_id", "product_id", "seller_id")

    def item_day(values: Values) -> str:
        day = order_day.get(values[i_order] or "", FIRST)
        seen("products", values[i_product], day)
        seen("sellers", values[i_seller], day)
        return day

    keyed("order_items", item_day)
    (p_order,) = _index(contract_for("order_payments"), "order_id")
    keyed("order_payments", lambda v: order_day.get(v[p_order] or "", FIRST))

    reviews = contract_for("order_reviews")
    r_order, r_answer = _index(reviews, "order_id", "review_answer_timestamp")

    def review_day(values: Values) -> str:
        ordered = order_day.get(values[r_order] or "")
        answered = day_of(values[r_answer])
        if ordered and answered:
            return max(ordered, answered)
        return ordered or answered or FIRST

    keyed("order_reviews", review_day)
    order_day.clear()
    for table, id_col in (
        ("customers", "customer_id"),
        ("sellers", "seller_id"),
        ("products", "product_id"),
    ):
        keyed(table, _first_seen_day(first_seen[table], _index(contract_for(table), id_col)[0]))
    first_seen.clear()

    dated = sorted({d for f in files.values() for d in f.rows} - {FIRST})
    if not dated:
        raise UsageError(f"{src} holds no dated order; nothing to split into days")
    first = dated[0]
    # Undated rows were buffered under FIRST: move them to the first day, ahead of
    # that day's own rows (they are older than anything dated).
    for f in files.values():
        f.flush()
    _merge_first(out, files, first)
    for table in ("geolocation", "category_translation"):
        c = contract_for(table)
        (out / first).mkdir(exist_ok=True)
        shutil.copyfile(src / c.file_name, out / first / c.file_name)
        files[table].rows = {first: sum(1 for _ in _records(src, table))}
    for table, f in files.items():
        whole = table in ("geolocation", "category_translation")
        f.close([d for d in dated if d != first] if whole else dated)
    return SplitResult(
        days=dated,
        rows={t: dict(sorted(f.rows.items())) for t, f in files.items()},
        seconds=0.0,
        extra_versions=extra,
        undated=undated,
    )


def _from(versions: list[tuple[str, Values | None]], start: str) -> list[tuple[str, Values | None]]:
    """Versions dated before ``start`` move to it, and only the newest of them stays."""
    if not start or versions[0][0] == FIRST:
        return versions
    out: list[tuple[str, Values | None]] = []
    for known, version in versions:
        day = max(known, start)
        if out and out[-1][0] == day:
            out[-1] = (day, version)
        else:
            out.append((day, version))
    return out


def _first_seen_day(days: dict[str, str], at: int) -> Callable[[Values], str]:
    return lambda values: days.get(values[at] or "", FIRST)


def _merge_first(out: Path, files: dict[str, _DayFiles], first: str) -> None:
    """Fold the undated rows (written under ``out/FIRST`` = ``out``) into the first day."""
    for f in files.values():
        undated_path = out / f.contract.file_name  # FIRST is "": the top folder
        if not undated_path.exists():
            continue
        n = f.rows.pop(FIRST, 0)
        day_path = out / first / f.contract.file_name
        (out / first).mkdir(exist_ok=True)
        body = undated_path.read_bytes()
        if day_path.exists():
            body += day_path.read_bytes()[len(f.header) :]
        day_path.write_bytes(body)
        undated_path.unlink()
        f.rows[first] = f.rows.get(first, 0) + n


def split_days(out: Path) -> list[Path]:
    """The day folders of a split, oldest first."""
    return sorted(
        p for p in out.iterdir() if p.is_dir() and day_of(p.name) == p.name and len(p.name) == 10
    )


def newest_rows(folders: list[Path]) -> dict[str, dict[tuple[str | None, ...], Values]]:
    """Each table's rows by natural key, the newest winning, over ``folders`` in order.

    Newest: a later folder replaces an earlier one; inside a folder the first
    row of a key wins (staging's rule within one batch). A table without a
    key (geolocation) is keyed by the whole row. Malformed records are left out.
    """
    result: dict[str, dict[tuple[str | None, ...], Values]] = {}
    for contract in CONTRACTS:
        key_at = _index(contract, *contract.primary_key) if contract.primary_key else None
        table: dict[tuple[str | None, ...], Values] = {}
        for folder in folders:
            this: dict[tuple[str | None, ...], Values] = {}
            for _raw, values in _records(folder, contract.table):
                if values is not None:
                    key = values if key_at is None else tuple(values[i] for i in key_at)
                    this.setdefault(key, values)
            table.update(this)
        result[contract.table] = table
    return result


def collapse(folders: list[Path], out: Path) -> Path:
    """Write the union of ``folders`` to ``out``, the newest version of each key winning.

    The 9 files keep the records' original text (in first-seen key order) and the
    format of the first folder's files; a table without a key keeps every row.
    """
    if not folders:
        raise UsageError("no day folder to collapse")
    tmp = out.with_name(f".{out.name}.partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for contract in CONTRACTS:
        key_at = _index(contract, *contract.primary_key) if contract.primary_key else None
        kept: dict[tuple[str | None, ...], str] = {}
        rows: list[str] = []
        for folder in folders:
            this: dict[tuple[str | None, ...], str] = {}
            for raw, values in _records(folder, contract.table):
                if values is None or key_at is None:
                    rows.append(raw)  # keyless or malformed: every record stays
                else:
                    this.setdefault(tuple(values[i] for i in key_at), raw)
            kept.update(this)
        header, eol, final = _file_format(folders[0] / contract.file_name)
        lines = [*rows, *kept.values()]
        text = eol.decode().join(lines)
        body = header + ((eol + text.encode("utf-8", "surrogateescape")) if lines else b"")
        (tmp / contract.file_name).write_bytes(body + (eol if final else b""))
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    return out
