"""Read the orders and payments files of a data directory into events.

Rows come from the shared CSV reader (``olist_pipeline.data.reader``,
strict ``read_rows``); until that module is importable a minimal csv-module
adapter with the same contract (header checked, unquoted empty -> None)
stands in, so the stream can be built and tested independently.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from olist_pipeline.contracts.sources import SourceContract, contract_for
from olist_pipeline.errors import UsageError
from olist_pipeline.logs import get_logger
from olist_pipeline.stream.events import (
    Event,
    SourceRowError,
    in_event_time_order,
    olist_ts,
    order_events,
    payment_event,
)

log = get_logger(__name__)


class DataDirError(UsageError):
    pass


@dataclass
class SourceStats:
    orders: int = 0
    payments: int = 0
    skipped_rows: int = 0
    orphan_payments: int = 0  # payments whose order is not in the orders file
    errors: list[str] = field(default_factory=list)


def _fallback_rows(path: Path, contract: SourceContract) -> Iterator[tuple[str | None, ...]]:
    with path.open(encoding="utf-8-sig", newline="") as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if header is None or tuple(header) != contract.header:
            raise DataDirError(
                f"{path}: header {header} does not match the {contract.table} contract "
                f"{list(contract.header)}"
            )
        for row in reader:
            yield tuple(v if v != "" else None for v in row)


def read_rows(path: Path, contract: SourceContract) -> Iterator[tuple[str | None, ...]]:
    try:
        from olist_pipeline.data.reader import read_rows as shared_read_rows
    except ImportError:  # the shared reader has not landed yet
        return _fallback_rows(path, contract)
    rows: Iterator[tuple[str | None, ...]] = shared_read_rows(path, contract)
    return rows


def load_events(data_dir: Path, limit_orders: int | None = None) -> tuple[list[Event], SourceStats]:
    """Every order and payment event of ``data_dir`` in event-time order.

    ``limit_orders`` keeps the first N orders of the orders file (with all
    their events and payments), so a replay stays a set of whole lifecycles.
    """
    orders_c, payments_c = contract_for("orders"), contract_for("order_payments")
    orders_path, payments_path = data_dir / orders_c.file_name, data_dir / payments_c.file_name
    for p in (orders_path, payments_path):
        if not p.is_file():
            raise DataDirError(
                f"{p} is missing; point --data-dir at a folder of Olist files "
                "(`olist data generate --out DIR` makes one)"
            )
    stats = SourceStats()
    events: list[Event] = []
    purchased: dict[str, datetime] = {}
    header = orders_c.header
    for n, row in enumerate(read_rows(orders_path, orders_c), start=1):
        if limit_orders is not None and stats.orders >= limit_orders:
            break
        try:
            lifecycle = order_events(row, header, orders_c.file_name, n)
        except SourceRowError as exc:
            stats.skipped_rows += 1
            stats.errors.append(f"{orders_c.file_name} row {n}: {exc}")
            continue
        stats.orders += 1
        purchased[lifecycle[0].order_id] = lifecycle[0].occurred_at
        events.extend(lifecycle)
    pheader = payments_c.header
    oid = pheader.index("order_id")
    for n, row in enumerate(read_rows(payments_path, payments_c), start=1):
        when = purchased.get(row[oid] or "")
        if when is None:
            stats.orphan_payments += 1
            continue
        try:
            events.append(payment_event(row, pheader, when, payments_c.file_name, n))
        except SourceRowError as exc:
            stats.skipped_rows += 1
            stats.errors.append(f"{payments_c.file_name} row {n}: {exc}")
            continue
        stats.payments += 1
    if stats.skipped_rows:
        log.warning("source_rows_skipped", count=stats.skipped_rows, first=stats.errors[:5])
    return in_event_time_order(events), stats


__all__ = ["DataDirError", "SourceStats", "load_events", "olist_ts", "read_rows"]
