"""RFM scoring and segments on ``customer_unique_id`` (the real person).

Definitions (the marts job applies exactly these, as Spark expressions):

- reference date: the day after the newest purchase in the data (never the
  wall clock, so a re-run gives the same scores);
- recency R = days from the customer's last purchase date to the reference
  date; frequency F = distinct orders; monetary M = sum of payment_value of
  those orders;
- orders counted: every order except ``canceled`` and ``unavailable``;
- score of a value v among N customers (1..5, 5 = best): for F and M
  ``1 + floor(5 * (customers with a value strictly lower than v) / N)``; for R
  (lower is better) the count is of customers with strictly *higher* recency.
  Ties always get the same score (unlike ``ntile``), so the scores are stable
  and hand-computable.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

EXCLUDED_STATUSES = ("canceled", "unavailable")


@dataclass(frozen=True)
class SegmentRule:
    name: str
    r: tuple[int, int]  # inclusive score range
    f: tuple[int, int]
    m: tuple[int, int] = (1, 5)


# Evaluated in order; the first matching rule names the segment.
SEGMENT_RULES: tuple[SegmentRule, ...] = (
    SegmentRule("champions", r=(4, 5), f=(4, 5), m=(4, 5)),
    SegmentRule("loyal_customers", r=(3, 5), f=(3, 5)),
    SegmentRule("cannot_lose_them", r=(1, 2), f=(4, 5), m=(4, 5)),
    SegmentRule("at_risk", r=(1, 2), f=(3, 5)),
    SegmentRule("big_spenders", r=(3, 5), f=(1, 2), m=(5, 5)),
    SegmentRule("new_customers", r=(5, 5), f=(1, 2)),
    SegmentRule("potential_loyalists", r=(3, 4), f=(1, 2)),
    SegmentRule("hibernating", r=(2, 2), f=(1, 2)),
    SegmentRule("lost", r=(1, 1), f=(1, 2)),
)
FALLBACK_SEGMENT = "others"


def score(value: float, population: Sequence[float], *, higher_is_better: bool = True) -> int:
    n = len(population)
    if higher_is_better:
        beaten = sum(1 for p in population if p < value)
    else:
        beaten = sum(1 for p in population if p > value)
    return 1 + (5 * beaten) // n


def segment(r: int, f: int, m: int) -> str:
    for rule in SEGMENT_RULES:
        if (
            rule.r[0] <= r <= rule.r[1]
            and rule.f[0] <= f <= rule.f[1]
            and rule.m[0] <= m <= rule.m[1]
        ):
            return rule.name
    return FALLBACK_SEGMENT
