"""Known failure modes of sinks that keep their offsets in the database, on the real stack.

Each test drives ``olist stream consume`` subprocesses against the real
broker and server and faults the real PostgreSQL (triggers, a revoked grant,
a slowed writer) in the test's own database:
- batches cut by the batch size mid-partition (the write buffer full before
  the poll batch ends): rows and offsets only ever move together;
- the offsets write failing inside the transaction, transiently (retried in
  the process) and for good (the consumer stops; a restart stores the batch
  once): the batch's rows roll back with it;
- flush on stop (SIGTERM) and on a rebalance (a second member joins);
- a batch still being written while its partitions are revoked.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest
from confluent_kafka import Consumer, TopicPartition

from olist_pipeline.config import Role, Settings
from olist_pipeline.stream.producer import ProduceReport
from olist_pipeline.stream.topics import stream_spec
from tests.integration.stream_support import (
    ConsumerProcess,
    end_offsets,
    prepare,
    produce_events,
    replay_events,
    stored_ids,
    stored_offsets,
    wait_until,
)

pytestmark = [pytest.mark.integration]


def _produce(settings: Settings, orders: int) -> set[str]:
    prepare(settings)
    events = [e for e in replay_events(orders) if e.stream == "orders"]
    return produce_events(settings, events, streams=("orders",)).valid_ids["orders"]


def _admin(settings: Settings, *statements: str) -> None:
    with psycopg.connect(settings.postgres.dsn(Role.ADMIN), autocommit=True) as conn:
        for s in statements:
            conn.execute(s)


def _consistency(settings: Settings) -> dict[int, tuple[int, int]]:
    """Per partition (stored next offset, rows stored), read in one snapshot.

    Without dead letters or producer duplicates, offset k of a partition is
    row k + 1 of it: the two numbers are equal unless rows and offsets were
    committed apart.
    """
    topic = stream_spec("orders").topic_name(settings)
    with psycopg.connect(settings.postgres.dsn(Role.ADMIN)) as conn:
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        offsets = dict(
            conn.execute(
                "SELECT partition, next_offset FROM audit.stream_offsets WHERE topic = %s",
                (topic,),
            ).fetchall()
        )
        rows = dict(
            conn.execute(
                "SELECT kafka_partition, count(*) FROM staging.order_events "
                "WHERE kafka_topic = %s GROUP BY 1",
                (topic,),
            ).fetchall()
        )
    return {int(p): (int(offsets.get(p, 0)), int(rows.get(p, 0))) for p in {*offsets, *rows}}


def _summary(c: ConsumerProcess) -> dict[str, Any]:
    done = c.events("consumer_finished")
    assert done, f"{c.log_path} has no consumer_finished line"
    return done[-1]


def _slow_writes(settings: Settings, seconds: float) -> None:
    """Every insert statement into the event table sleeps: batches stay in flight."""
    _admin(
        settings,
        "CREATE FUNCTION public.slow_insert() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER AS "
        f"$$ BEGIN PERFORM pg_sleep({seconds}); RETURN NULL; END $$",
        "CREATE TRIGGER slow_insert BEFORE INSERT ON staging.order_events "
        "FOR EACH STATEMENT EXECUTE FUNCTION public.slow_insert()",
    )


def _assert_exact(settings: Settings, expected: set[str]) -> None:
    ids = stored_ids(settings, "orders")
    assert len(ids) == len(set(ids)), "a row was stored twice"
    assert set(ids) == expected, f"lost {len(expected - set(ids))}"
    topic = stream_spec("orders").topic_name(settings)
    assert stored_offsets(settings, "orders") == end_offsets(settings, topic)


def test_batches_cut_by_the_batch_size_store_rows_and_offsets_together(
    settings: Settings, tmp_path: Path
) -> None:
    expected = _produce(settings, 600)
    c = ConsumerProcess(
        settings, tmp_path, "small", "--stream", "orders", "--batch-size", "7", "--until-caught-up"
    )
    partial, torn = 0, []
    try:
        while c.proc.poll() is None:
            snap = _consistency(settings)
            stored = sum(n for _, n in snap.values())
            partial += 0 < stored < len(expected)
            torn += [(p, o, n) for p, (o, n) in snap.items() if o != n]
            time.sleep(0.05)
        assert c.wait(10) == 0
    finally:
        c.ensure_stopped()
    assert partial >= 3, "the consumer finished before a batch could be observed mid-run"
    assert not torn, f"offsets and rows committed apart (partition, offset, rows): {torn[:5]}"
    _assert_exact(settings, expected)
    assert _summary(c)["batches"] >= len(expected) // 7


def test_offsets_write_failing_transiently_rolls_the_batch_back_and_retries_it(
    settings: Settings, tmp_path: Path
) -> None:
    expected = _produce(settings, 300)
    # A sequence is not transactional: the first three offsets writes fail,
    # each rolling back its transaction, and later ones pass.
    _admin(
        settings,
        "CREATE SEQUENCE public.offsets_writes",
        # SECURITY DEFINER: the stream role may not use the public schema.
        "CREATE FUNCTION public.fail_offsets() RETURNS trigger LANGUAGE plpgsql "
        "SECURITY DEFINER AS $$ BEGIN "
        "IF nextval('public.offsets_writes') <= 3 THEN "
        "RAISE EXCEPTION 'injected offsets write failure' USING ERRCODE = '40001'; END IF; "
        "RETURN NULL; END $$",
        "CREATE TRIGGER fail_offsets BEFORE INSERT ON audit.stream_offsets "
        "FOR EACH STATEMENT EXECUTE FUNCTION public.fail_offsets()",
    )
    c = ConsumerProcess(
        settings, tmp_path, "c", "--stream", "orders", "--batch-size", "100", "--until-caught-up"
    )
    try:
        assert c.wait(120) == 0
    finally:
        c.ensure_stopped()
    retries = [r for r in c.events("transient_error_retrying") if r.get("reason") == "database"]
    assert len(retries) == 3, retries
    assert all("injected offsets write failure" in str(r.get("error")) for r in retries)
    summary = _summary(c)
    # Had a failed transaction kept its rows, their retry would count as duplicates.
    assert summary["duplicates"] == 0, summary
    assert summary["stored"] == len(expected), summary
    _assert_exact(settings, expected)


def test_offsets_write_refused_for_good_stores_nothing_and_a_restart_stores_it_once(
    settings: Settings, tmp_path: Path
) -> None:
    expected = _produce(settings, 300)
    _admin(settings, "REVOKE INSERT, UPDATE ON audit.stream_offsets FROM olist_stream")
    c = ConsumerProcess(settings, tmp_path, "refused", "--stream", "orders", "--until-caught-up")
    try:
        code = c.wait(60)
    finally:
        c.ensure_stopped()
    assert code != 0, "the consumer went on although no offset could be stored"
    assert "permission denied" in c.log_path.read_text(errors="replace")
    assert stored_ids(settings, "orders") == [], "rows were committed without their offsets"
    assert stored_offsets(settings, "orders") == {}

    _admin(settings, "GRANT INSERT, UPDATE ON audit.stream_offsets TO olist_stream")
    again = ConsumerProcess(settings, tmp_path, "again", "--stream", "orders", "--until-caught-up")
    try:
        assert again.wait(120) == 0
    finally:
        again.ensure_stopped()
    assert _summary(again)["duplicates"] == 0
    _assert_exact(settings, expected)


def _broker_committed(settings: Settings, group: str, topic: str) -> dict[int, int]:
    c = Consumer({"bootstrap.servers": settings.kafka.bootstrap_servers, "group.id": group})
    try:
        parts = c.list_topics(topic, timeout=10).topics[topic].partitions
        got = c.committed([TopicPartition(topic, p) for p in parts], timeout=10)
        return {tp.partition: tp.offset for tp in got if tp.offset >= 0}
    finally:
        c.close()


def test_stop_flushes_the_batch_in_flight_and_its_kafka_commit(
    settings: Settings, tmp_path: Path
) -> None:
    expected = _produce(settings, 600)
    _slow_writes(settings, 0.3)
    c = ConsumerProcess(settings, tmp_path, "stopped", "--stream", "orders", "--batch-size", "50")
    try:
        wait_until(lambda: len(stored_ids(settings, "orders")) >= 150, 60, "rows stored")
        assert c.terminate(30) == 0
    finally:
        c.ensure_stopped()
    summary = _summary(c)
    rows = len(stored_ids(settings, "orders"))
    assert 150 <= rows < len(expected), "stop came after the work was done"
    assert summary["stored"] == rows, (summary, rows)
    assert all(o == n for o, n in _consistency(settings).values())
    # The Kafka side got the last batch's offsets before the member left.
    topic = stream_spec("orders").topic_name(settings)
    group = stream_spec("orders").group(settings)
    assert _broker_committed(settings, group, topic) == stored_offsets(settings, "orders")

    _admin(settings, "DROP TRIGGER slow_insert ON staging.order_events")
    rest = ConsumerProcess(settings, tmp_path, "rest", "--stream", "orders", "--until-caught-up")
    try:
        assert rest.wait(120) == 0
    finally:
        rest.ensure_stopped()
    assert _summary(rest)["duplicates"] == 0, "the restart re-read rows stored before the stop"
    _assert_exact(settings, expected)


def test_rebalance_flushes_a_batch_straddling_the_revocation(
    settings: Settings, tmp_path: Path
) -> None:
    prepare(settings)
    # ~20 s of production at 300/s: the second member (a fresh process) joins well within it.
    events = [e for e in replay_events(1500) if e.stream == "orders"]
    _slow_writes(settings, 0.4)
    args = ("--stream", "orders", "--batch-size", "500")
    first = ConsumerProcess(settings, tmp_path, "first", *args)
    members = [first]
    report: list[ProduceReport] = []
    # Produced at a pace, each fetch brings a few events of every partition,
    # so a batch (filled while the slowed writer works) mixes partitions.
    producer = threading.Thread(
        target=lambda: report.append(
            produce_events(settings, events, rate=300, streams=("orders",))
        )
    )
    try:
        wait_until(lambda: bool(first.events("partitions_assigned")), 60, "first joins")
        producer.start()
        wait_until(lambda: len(stored_ids(settings, "orders")) >= 300, 90, "rows stored")
        members.append(ConsumerProcess(settings, tmp_path, "second", *args))
        wait_until(lambda: bool(members[1].events("partitions_assigned")), 60, "second joins")
        assert producer.is_alive(), "production ended before the rebalance: use more events"
        producer.join(120)
        assert report, "the producer did not finish"
        expected = report[0].valid_ids["orders"]
        wait_until(
            lambda: len(stored_ids(settings, "orders")) >= len(expected), 120, "all rows stored"
        )
        for m in members:
            assert m.terminate(60) == 0
    finally:
        producer.join(120)
        for m in members:
            m.ensure_stopped()
    summaries = [_summary(m) for m in members]
    # A revoked batch not finished before the partitions moved would be read
    # again by their next owner and counted as duplicates there.
    assert sum(s["duplicates"] for s in summaries) == 0, summaries
    assert sum(s["stored"] for s in summaries) == len(expected), summaries
    _assert_exact(settings, expected)

    # The first member's batch in flight at the revocation held partitions
    # that moved to the second member and partitions it got back.
    records = first.records()
    straddled = []
    for i, r in enumerate(records):
        if r.get("event") != "partitions_revoked" or not r.get("inflight_partitions"):
            continue
        later = [x for x in records[i + 1 :] if x.get("event") == "partitions_assigned"]
        kept = {int(p) for p in later[0]["offsets"]} if later else set()
        inflight = set(r["inflight_partitions"])
        if inflight - kept and inflight & kept:
            straddled.append((sorted(inflight), sorted(kept)))
    assert straddled, [r for r in records if "partitions_" in str(r.get("event"))]
