"""Producer planning (fault injection) and pacing, without a broker."""

from __future__ import annotations

from collections import Counter

from olist_pipeline.stream.producer import Pacer, plan
from tests.unit.stream_samples import sample_events


def _many() -> list:
    return list(sample_events()) * 40  # ids repeat, which plan() does not care about


def test_plan_without_faults_is_the_input_in_order() -> None:
    events = list(sample_events())
    out, injected = plan(events)
    assert [m.event for m in out] == events
    assert all(m.kind == "valid" for m in out)
    assert injected == {
        "orders": {"duplicate": 0, "out_of_order": 0},
        "payments": {"duplicate": 0, "out_of_order": 0},
    }


def test_faults_are_counted_exactly_and_deterministic_per_seed() -> None:
    events = _many()
    out, injected = plan(events, duplicates=0.2, out_of_order=0.2, poison=5, seed=42)
    kinds = Counter(m.kind.split(":")[0] for m in out)
    assert kinds["valid"] == len(events)
    assert kinds["duplicate"] == sum(v["duplicate"] for v in injected.values()) > 0
    assert kinds["poison"] == 10  # 5 per stream
    assert sum(v["out_of_order"] for v in injected.values()) > 0
    valid = [m.event for m in out if m.kind == "valid"]
    assert valid != events and sorted(map(id, valid)) == sorted(map(id, events))
    again, _ = plan(events, duplicates=0.2, out_of_order=0.2, poison=5, seed=42)
    assert [(m.kind, m.key) for m in again] == [(m.kind, m.key) for m in out]
    # every duplicate follows its original
    seen: set[int] = set()
    for m in out:
        if m.kind == "valid":
            seen.add(id(m.event))
        elif m.kind == "duplicate":
            assert id(m.event) in seen


def test_plan_for_one_stream_only() -> None:
    out, _ = plan(list(sample_events()), streams=("payments",), poison=2)
    assert {m.stream for m in out} == {"payments"}


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, s: float) -> None:
        self.slept.append(s)
        self.now += s


def test_pacer_caps_the_rate() -> None:
    clock = FakeClock()
    pacer = Pacer(None, rate=100, clock=clock, sleep=clock.sleep)
    for _ in range(201):
        pacer.wait(None)
    assert abs(clock.now - 2.0) < 1e-6  # 200 intervals of 10 ms


def test_pacer_compresses_event_time() -> None:
    clock = FakeClock()
    pacer = Pacer(speed=3600, rate=None, clock=clock, sleep=clock.sleep)
    events = list(sample_events())
    for e in events:
        pacer.wait(e.occurred_at)
    span = (events[-1].occurred_at - events[0].occurred_at).total_seconds()
    assert abs(clock.now - span / 3600) < 1e-6
