"""Batch/stream parity on the real PostgreSQL.

Stream staging is filled with the events the producer derives from the same
source rows (``olist_pipeline.stream.events``), inserted as the stream role
into the streaming developer's tables, so the test needs no Kafka.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import pytest

from olist_pipeline.cli import main
from olist_pipeline.config import Role, Settings
from olist_pipeline.contracts.sources import contract_for
from olist_pipeline.db import connect
from olist_pipeline.dq.parity import run_parity
from olist_pipeline.stream import events as ev
from tests.integration._quality_data import Rows, clean, load_staging

pytestmark = pytest.mark.integration


def _events(rows: Rows) -> list[ev.Event]:
    orders_header = contract_for("orders").header
    pay_header = contract_for("order_payments").header
    out: list[ev.Event] = []
    purchased: dict[str, datetime] = {}
    for r in rows["orders"]:
        lifecycle = ev.order_events([r[c] for c in orders_header], orders_header)
        purchased[str(r["order_id"])] = lifecycle[0].occurred_at
        out += lifecycle
    for r in rows["order_payments"]:
        out.append(
            ev.payment_event([r[c] for c in pay_header], pay_header, purchased[str(r["order_id"])])
        )
    return out


def _store(settings: Settings, events: list[ev.Event]) -> None:
    produced = datetime.now(UTC)
    with connect(settings, Role.STREAM) as conn:
        for offset, e in enumerate(events):
            doc = e.document(produced)
            if e.stream == ev.ORDER_STREAM:
                conn.execute(
                    "INSERT INTO staging.order_events (event_id, event_type, schema_version,"
                    " order_id, sequence, occurred_at, produced_at, order_status, customer_id,"
                    " event, kafka_topic, kafka_partition, kafka_offset)"
                    " VALUES (%s, %s, 1, %s, %s, %s, %s, %s, %s, %s, 'orders', 0, %s)",
                    (e.event_id, e.event_type, e.order_id, e.sequence, e.occurred_at, produced,
                     e.payload["order_status"], e.payload["customer_id"], json.dumps(doc),
                     offset),
                )  # fmt: skip
            else:
                p = e.payload
                conn.execute(
                    "INSERT INTO staging.payment_events (event_id, event_type, schema_version,"
                    " order_id, payment_sequential, occurred_at, produced_at, payment_type,"
                    " payment_installments, payment_value, event, kafka_topic, kafka_partition,"
                    " kafka_offset) VALUES (%s, %s, 1, %s, %s, %s, %s, %s, %s, %s, %s,"
                    " 'payments', 0, %s)",
                    (e.event_id, e.event_type, e.order_id, p["payment_sequential"], e.occurred_at,
                     produced, p["payment_type"], p["payment_installments"], p["payment_value"],
                     json.dumps(doc), offset),
                )  # fmt: skip


def test_parity_passes_when_both_halves_read_the_same_data(pg_settings: Settings) -> None:
    data = clean()
    load_staging(pg_settings, data)
    _store(pg_settings, _events(data))
    report = run_parity(pg_settings, "run-1")
    assert report.passed, report.message()
    assert report.days == [date(2018, 1, d) for d in (2, 3, 4)]
    measures = {(r.day, r.measure): r.batch for r in report.rows}
    # Folding: the invoiced order is at the approved stage, the shipped one shipped.
    assert measures[(date(2018, 1, 4), "orders:approved")] == 1
    assert measures[(date(2018, 1, 4), "orders:shipped")] == 1
    assert measures[(date(2018, 1, 2), "orders:total")] == 2
    with connect(pg_settings, Role.READER) as conn:
        rows = conn.execute(
            "SELECT count(*), bool_and(passed) FROM audit.parity_results WHERE run_id = 'run-1'"
        ).fetchone()
    assert rows == (len(report.rows), True)


def test_withheld_events_fail_parity_and_list_the_days(
    pg_settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    data = clean()
    load_staging(pg_settings, data)
    withheld_order = str(data["orders"][2]["order_id"])  # bought 2018-01-03
    events = [
        e
        for e in _events(data)
        # one order's events and another order's delivery withheld
        if e.order_id != withheld_order
        and not (e.order_id == data["orders"][0]["order_id"] and e.event_type == "order.delivered")
    ]
    _store(pg_settings, events)
    monkeypatch.setenv("OLIST_PG_DATABASE", pg_settings.postgres.database)
    monkeypatch.delenv("OLIST_PUSHGATEWAY_URL", raising=False)
    assert main(["dq", "parity", "--run-id", "run-2"]) == 4
    err = capsys.readouterr().err
    assert "parity failed on 2 of 3 days (2018-01-02..2018-01-04, tolerance 0)" in err
    assert (
        "2018-01-02 (orders:delivered batch 2 vs stream 1; orders:shipped batch 0 vs stream 1)"
        in err
    )
    assert "2018-01-03 (orders:delivered batch 1 vs stream 0;" in err
    assert "payments:sum batch 69.90 vs stream 0" in err
    with connect(pg_settings, Role.READER) as conn:
        days = conn.execute(
            "SELECT DISTINCT day FROM audit.parity_results WHERE run_id = 'run-2' AND NOT passed"
            " ORDER BY day"
        ).fetchall()
    assert days == [(date(2018, 1, 2),), (date(2018, 1, 3),)]
    # The tolerance decides: a relative difference of 1 (a value missing on one side) passes
    # only a tolerance of 1.
    assert run_parity(pg_settings, "run-3", tolerance=0.99).failed_days == [
        date(2018, 1, 2),
        date(2018, 1, 3),
    ]
    assert run_parity(pg_settings, "run-4", tolerance=1.0).passed


def test_parity_without_stream_events_fails(pg_settings: Settings) -> None:
    load_staging(pg_settings, clean())
    report = run_parity(pg_settings, "run-1")
    assert not report.passed
    assert "no stream events" in report.message()


def test_an_order_with_a_carrier_date_before_its_purchase_stays_on_its_purchase_day(
    pg_settings: Settings,
) -> None:
    # The real quirk: the carrier handover is recorded before the purchase. The stream
    # dates the order by its first event (the purchase), as batch staging does.
    data = clean()
    data["orders"][1]["order_delivered_carrier_date"] = "2018-01-01 09:00:00"
    load_staging(pg_settings, data)
    _store(pg_settings, _events(data))
    report = run_parity(pg_settings, "run-quirk")
    assert report.passed, report.message()
    assert date(2018, 1, 1) not in report.days
