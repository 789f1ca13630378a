"""Small hand-made Olist rows for the stream unit tests (no files, no services)."""

from __future__ import annotations

from functools import cache

from olist_pipeline.contracts.sources import contract_for
from olist_pipeline.stream.events import Event, in_event_time_order, order_events, payment_event

ORDERS = contract_for("orders").header
PAYMENTS = contract_for("order_payments").header

ORDER_ROWS: list[tuple[str | None, ...]] = [
    (
        "e481f51cbdc54678b7cc49136f2d6af7",
        "9ef432eb6251297304e76186b10a928d",
        "delivered",
        "2017-10-02 10:56:33",
        "2017-10-02 11:07:15",
        "2017-10-04 19:55:00",
        "2017-10-10 21:25:13",
        "2017-10-18 00:00:00",
    ),
    (
        "53cdb2fc8bc7dce0b6741e2150273451",
        "b0830fb4747a6c6d20dea0b8c802d7ef",
        "shipped",
        "2018-07-24 20:41:37",
        "2018-07-26 03:24:27",
        "2018-07-26 14:31:00",
        None,
        "2018-08-13 00:00:00",
    ),
    (
        "a2ac6dad85cf8af5b0afb510a240fe8c",
        "2b9d8c1f6c1e1c5bb6f7c2a0a2f8e0c1",
        "canceled",
        "2018-08-01 09:00:00",
        "2018-08-01 09:15:00",
        None,
        None,
        "2018-08-20 00:00:00",
    ),
    (
        "0b1a2c3d4e5f60718293a4b5c6d7e8f9",
        "1f2e3d4c5b6a79880f1e2d3c4b5a6978",
        "unavailable",
        "2017-03-05 12:00:00",
        None,
        None,
        None,
        "2017-03-30 00:00:00",
    ),
]
PAYMENT_ROWS: list[tuple[str | None, ...]] = [
    ("e481f51cbdc54678b7cc49136f2d6af7", "1", "credit_card", "1", "18.12"),
    ("e481f51cbdc54678b7cc49136f2d6af7", "3", "voucher", "1", "2.00"),
    ("e481f51cbdc54678b7cc49136f2d6af7", "2", "voucher", "1", "18.59"),
    ("53cdb2fc8bc7dce0b6741e2150273451", "1", "boleto", "1", "141.46"),
]


@cache
def sample_events() -> tuple[Event, ...]:
    events: list[Event] = []
    purchased = {}
    for n, row in enumerate(ORDER_ROWS, start=1):
        lifecycle = order_events(row, ORDERS, "olist_orders_dataset.csv", n)
        purchased[lifecycle[0].order_id] = lifecycle[0].occurred_at
        events += lifecycle
    for n, row in enumerate(PAYMENT_ROWS, start=1):
        events.append(
            payment_event(
                row, PAYMENTS, purchased[str(row[0])], "olist_order_payments_dataset.csv", n
            )
        )
    return tuple(in_event_time_order(events))
