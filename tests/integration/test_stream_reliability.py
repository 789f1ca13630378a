"""Reliability of the exactly-once consumer on the shared stack: kill -9 and rebalances.

Faults are placed at points of progress read from the sink's own offsets
(audit.stream_offsets), never at wall-clock times, and a feeder keeps the
topic supplied until the faults are done: every fault meets a consumer with
work left, on a fast machine as on a slow one.
"""

from __future__ import annotations

import random
import time
from pathlib import Path

import pytest

from olist_pipeline.config import Settings
from olist_pipeline.stream.topics import stream_spec
from tests.integration.stream_support import (
    ConsumerProcess,
    Feeder,
    Progress,
    backlog,
    end_offsets,
    prepare,
    replay_events,
    stored_ids,
    stored_offsets,
    wait_until,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]

KILLS = 10


def test_kill_minus_nine_repeatedly_loses_and_duplicates_nothing(
    settings: Settings, tmp_path: Path
) -> None:
    prepare(settings)
    events = [e for e in replay_events(2500) if e.stream == "orders"]
    feeder = Feeder(
        settings, events, max_backlog=3000, duplicates=0.05, out_of_order=0.05, poison=4
    ).start()
    progress = Progress(settings, "orders")
    rng = random.Random(1234)
    left_at_kill: list[int] = []  # messages not yet stored when each victim died
    try:
        for kill in range(KILLS):
            c = ConsumerProcess(
                settings,
                tmp_path,
                f"victim-{kill}",
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
                wait_until(lambda c=c: bool(c.events("partitions_assigned")), 60, "assignment")
                # Die after 0..150 more stored offsets (0: around the first batch), then
                # a random few milliseconds on: kills land before, inside and after
                # database transactions, DLQ flushes and Kafka commits.
                target = progress.stored() + rng.randint(0, 150)
                progress.wait_for(target, 120, f"victim {kill} to store up to offset {target}")
                time.sleep(rng.uniform(0, 0.03))
                assert c.proc.poll() is None, "the consumer exited on its own"
                assert feeder.running, "the feeder stopped before the kills were done"
            finally:
                c.kill()
            left_at_kill.append(backlog(settings, "orders"))
        expected = feeder.stop()
    finally:
        feeder.halt()
        progress.close()
    print(f"messages left at each kill: {left_at_kill}; feeder rounds: {feeder.rounds}")
    # Every kill interrupted a consumer that still had messages to store.
    assert all(left > 0 for left in left_at_kill), left_at_kill

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
        assert final.wait(180) == 0
    finally:
        final.ensure_stopped()
    assert len(expected) > 1000
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
    feeder = Feeder(settings, events, chunk=1000, max_backlog=3000, duplicates=0.02).start()
    progress = Progress(settings, "orders")
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
        wait_until(lambda: bool(a.events("partitions_assigned")), 60, "member a assigned")
        progress.wait_for(progress.stored() + 200, 120, "member a storing")
        b = ConsumerProcess(settings, tmp_path, "member-b", *common, "--max-idle", "4")
        wait_until(lambda: bool(b.events("partitions_assigned")), 60, "member b assigned")
        # While both run they split the three partitions between them.
        wait_until(lambda: len(a.events("partitions_assigned")) >= 2, 60, "a re-assigned")
        shared_a = a.events("partitions_assigned")[-1]["offsets"]
        shared_b = b.events("partitions_assigned")[-1]["offsets"]
        assert shared_a and shared_b
        assert set(shared_a).isdisjoint(shared_b) and len(shared_a) + len(shared_b) == 3
        progress.wait_for(progress.stored() + 200, 120, "both members storing")
        assert feeder.running, "the feeder stopped before member a left"
        assert a.terminate() == 0  # leaves the group mid-stream: b takes everything over
        wait_until(
            lambda: len(b.events("partitions_assigned")[-1]["offsets"]) == 3, 60, "b takes over"
        )
        progress.wait_for(progress.stored() + 200, 120, "member b storing alone")
        expected = feeder.stop()
        assert b.wait(180) == 0  # --max-idle: exits once the input has ended
    finally:
        feeder.halt()
        progress.close()
        a.ensure_stopped()
        if b is not None:
            b.ensure_stopped()
    assert len(b.events("partitions_assigned")[-1]["offsets"]) == 3
    ids = stored_ids(settings, "orders")
    assert len(ids) == len(set(ids)) and set(ids) == expected
    topic = stream_spec("orders").topic_name(settings)
    group = settings.kafka.group("shared")
    assert stored_offsets(settings, "orders") == end_offsets(settings, topic)
    assert group.endswith("shared")
