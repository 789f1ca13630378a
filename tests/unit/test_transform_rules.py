"""Pure standardisation rules of the transform (no Spark here)."""

from __future__ import annotations

from datetime import date

import pytest

from olist_pipeline.report.rfm import SEGMENT_RULES, score, segment
from olist_pipeline.transform import rules


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("sao paulo", "sao paulo"),
        ("São Paulo", "sao paulo"),
        ("sao paulo - sp", "sao paulo"),
        ("sao paulo / sao paulo", "sao paulo"),
        ("sp / sp", "sao paulo"),
        ("sbc/sp", "sao bernardo do campo"),
        ("rio de janeiro \\rio de janeiro", "rio de janeiro"),
        ("novo hamburgo, rio grande do sul, brasil", "novo hamburgo"),
        ("sao  paulo", "sao paulo"),
        ("  Ribeirão Preto  ", "ribeirao preto"),
        ("santa barbara d\u00b4oeste", "santa barbara d'oeste"),
        ("embu-guaçu", "embu-guacu"),  # a hyphen inside a name stays
        ("vendas@creditparts.com.br", None),
        ("04482255", None),
        ("", None),
        (None, None),
    ],
)
def test_normalise_city(raw: str | None, expected: str | None) -> None:
    assert rules.normalise_city(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("01037", "01037"), ("1037", "01037"), (" 53990 ", "53990"), ("abc", None), ("123456", None)],
)
def test_normalise_zip(raw: str, expected: str | None) -> None:
    assert rules.normalise_zip(raw) == expected


def test_brazil_box_keeps_noronha_and_drops_abroad() -> None:
    assert rules.in_brazil(-3.85, -32.42)  # Fernando de Noronha, 53990
    assert rules.in_brazil(-23.55, -46.63)  # Sao Paulo
    assert not rules.in_brazil(41.61, -8.41)  # Portugal
    assert not rules.in_brazil(-34.59, -58.73)  # Buenos Aires
    assert not rules.in_brazil(14.59, 121.11)  # Philippines
    assert not rules.in_brazil(None, -46.0)


@pytest.mark.parametrize(
    ("year", "easter"),
    [
        (2016, date(2016, 3, 27)),
        (2017, date(2017, 4, 16)),
        (2018, date(2018, 4, 1)),
        (2019, date(2019, 4, 21)),
        (2024, date(2024, 3, 31)),
    ],
)
def test_easter(year: int, easter: date) -> None:
    assert rules.easter(year) == easter


def test_holidays_2017() -> None:
    h = rules.brazil_holidays(2017)
    assert h[date(2017, 2, 27)].startswith("Carnaval")
    assert h[date(2017, 2, 28)].startswith("Carnaval")
    assert h[date(2017, 4, 14)] == "Sexta-feira Santa"
    assert h[date(2017, 6, 15)] == "Corpus Christi"
    assert h[date(2017, 9, 7)] == "Independencia do Brasil"
    assert date(2017, 11, 20) not in h  # national only from 2024
    assert date(2024, 11, 20) in rules.brazil_holidays(2024)
    assert len(h) == 12


def test_black_friday() -> None:
    assert rules.black_friday(2016) == date(2016, 11, 25)
    assert rules.black_friday(2017) == date(2017, 11, 24)
    assert rules.black_friday(2018) == date(2018, 11, 23)


def test_run_table_names_are_safe_and_distinct() -> None:
    a = rules.run_table("fact_order_items", "manual__2024-01-01T00:00:00+00:00")
    b = rules.run_table("fact_order_items", "manual__2024-01-01T00:00:01+00:00")
    assert a != b
    assert len(a) <= 63
    assert a.replace("_", "").isalnum()


def test_rfm_scores_share_ties() -> None:
    freq = [1, 1, 1, 1, 2, 3]
    assert [score(v, freq) for v in freq] == [1, 1, 1, 1, 4, 5]
    recency = [10, 24, 1]
    assert [score(v, recency, higher_is_better=False) for v in recency] == [2, 1, 4]


def test_segments() -> None:
    assert segment(5, 5, 5) == "champions"
    assert segment(2, 4, 4) == "cannot_lose_them"
    assert segment(1, 1, 2) == "lost"
    assert segment(4, 1, 1) == "potential_loyalists"
    assert segment(5, 1, 1) == "new_customers"
    # Every (r, f) cell gets a named segment (no 'others' in the 5x5 grid).
    for r in range(1, 6):
        for f in range(1, 6):
            for m in range(1, 6):
                assert segment(r, f, m) != "others", (r, f, m)
    assert len({rule.name for rule in SEGMENT_RULES}) == len(SEGMENT_RULES)


def test_calendar_rows() -> None:
    from olist_pipeline.transform.warehouse import calendar

    rows = calendar(2017, 2018)
    assert len(rows) == 365 + 365 + 1
    unknown = rows[0]
    assert unknown["date_key"] == -1 and unknown["full_date"] is None
    by_key = {r["date_key"]: r for r in rows}
    bf = by_key[20171124]
    assert bf["is_black_friday"] and bf["day_name"] == "Friday" and bf["day_of_week"] == 5
    assert by_key[20180213]["holiday_name"] == "Carnaval (terca-feira)"
    assert by_key[20180106]["is_weekend"] and not by_key[20180105]["is_weekend"]
    assert sum(r["is_holiday"] for r in rows) == 24
    assert sum(r["is_black_friday"] for r in rows) == 2
