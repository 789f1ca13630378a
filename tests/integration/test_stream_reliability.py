"""Reliability of the exactly-once consumer on the shared stack: kill -9 and rebalances."""

from __future__ import annotations

import random
import threading
import time
from pathlib import Path

import pytest

from olist_pipeline.config import Settings
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

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_kill_minus_nine_repeatedly_loses_and_duplicates_nothing(
    settings: Settings, tmp_path: Path
) -> None:
    prepare(settings)
    events = [e for e in replay_events(2500) if e.stream == "orders"]
    report = produce_events(
        settings, events, duplicates=0.05, out_of_order=0.05, poison=4, seed=11, streams=("orders",)
    )
    expected = report.valid_ids["orders"]
    assert len(expected) > 9000
    rng = random.Random(1234)
    kills = 0
    interrupted = 0  # kills that hit a consumer with work left
    # Small batches and a random moment: kills land before, inside and after
    # database transactions, DLQ flushes and Kafka commits.
    while kills < 10:
        c = ConsumerProcess(
            settings,
            tmp_path,
            f"victim-{kills}",
            "--stream",
            "orders",
            "--batch-size",
            "20",
            "--instance-id",
            "victim",
            "--session-timeout-ms",
            "6000",
        )
        try:
            wait_until(lambda c=c: bool(c.events("partitions_assigned")), 30, "assignment")
            time.sleep(rng.uniform(0.05, 0.6))
            assert c.proc.poll() is None, "the consumer exited on its own"
        finally:
            c.kill()
        kills += 1
        interrupted += len(stored_ids(settings, "orders")) < len(expected)
    assert interrupted >= 5, "most kills came after the work was done: use more events"

    final = ConsumerProcess(
        settings,
        tmp_path,
        "final",
        "--stream",
        "orders",
        "--until-caught-up",
        "--instance-id",
        "victim",
    )
    try:
        assert final.wait(90) == 0
    finally:
        final.ensure_stopped()
    ids = stored_ids(settings, "orders")
    assert len(ids) == len(set(ids))
    assert set(ids) == expected
    topic = stream_spec("orders").topic_name(settings)
    assert stored_offsets(settings, "orders") == end_offsets(settings, topic)


def test_two_members_share_partitions_and_a_rebalance_loses_nothing(
    settings: Settings, tmp_path: Path
) -> None:
    prepare(settings)
    events = [e for e in replay_events(900) if e.stream == "orders"]
    produced: dict[str, object] = {}

    def producer() -> None:
        produced["report"] = produce_events(
            settings, events, rate=1500, duplicates=0.02, seed=3, streams=("orders",)
        )

    thread = threading.Thread(target=producer)
    thread.start()
    common = (
        "--stream",
        "orders",
        "--group",
        "shared",
        "--batch-size",
        "100",
        "--session-timeout-ms",
        "6000",
    )
    a = ConsumerProcess(settings, tmp_path, "member-a", *common)
    b = None
    try:
        wait_until(lambda: bool(a.events("partitions_assigned")), 30, "member a assigned")
        time.sleep(0.5)
        b = ConsumerProcess(settings, tmp_path, "member-b", *common, "--max-idle", "4")
        wait_until(lambda: bool(b.events("partitions_assigned")), 30, "member b assigned")
        # While both run they split the three partitions between them.
        wait_until(lambda: len(a.events("partitions_assigned")) >= 2, 30, "a re-assigned")
        shared_a = a.events("partitions_assigned")[-1]["offsets"]
        shared_b = b.events("partitions_assigned")[-1]["offsets"]
        assert shared_a and shared_b
        assert set(shared_a).isdisjoint(shared_b) and len(shared_a) + len(shared_b) == 3
        time.sleep(0.5)
        assert a.terminate() == 0  # leaves the group: b takes everything over
        thread.join(60)
        assert b.wait(90) == 0
    finally:
        a.ensure_stopped()
        if b is not None:
            b.ensure_stopped()
    assert len(b.events("partitions_assigned")[-1]["offsets"]) == 3
    report = produced["report"]
    expected = report.valid_ids["orders"]  # type: ignore[attr-defined]
    ids = stored_ids(settings, "orders")
    assert len(ids) == len(set(ids)) and set(ids) == expected
    topic = stream_spec("orders").topic_name(settings)
    group = settings.kafka.group("shared")
    assert stored_offsets(settings, "orders") == end_offsets(settings, topic)
    assert group.endswith("shared")
