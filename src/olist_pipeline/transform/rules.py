"""Pure standardisation rules shared by the Spark jobs and their tests.

Each rule is data (character maps, patterns, aliases, boxes) plus a plain
Python function applying it; the Spark jobs build their column expressions
from the same data (``olist_pipeline.transform.expressions``), and an
integration test checks both give the same answer on the same inputs.
"""

from __future__ import annotations

import hashlib
import re
from datetime import date, timedelta

# -- city names -------------------------------------------------------------
# Accented letters found in Brazilian city names, mapped to their base letter.
ACCENTED = "áàâãäéèêëíìîïóòôõöúùûüçñ"
UNACCENTED = "aaaaaeeeeiiiiooooouuuucn"
# Apostrophe look-alikes (acute accent, backtick, typographic quotes) -> '.
APOSTROPHES = "\u00b4`\u2019\u2018"
# A city name ends where a state/country suffix starts: ` - sp`, `/sp`,
# `\rio de janeiro`, `, rio grande do sul, brasil`, ` (sp)`. A bare hyphen
# inside a name (`embu-guacu`) is part of the name, so a hyphen needs a space.
CITY_SUFFIX = r"^(.*?)(\s+-\s*|\s*-\s+|\s*[/\\,(]).*$"
# Abbreviations people type instead of the city name.
CITY_ALIASES: dict[str, str] = {
    "sp": "sao paulo",
    "sbc": "sao bernardo do campo",
    "rj": "rio de janeiro",
    "bh": "belo horizonte",
}
# Not a city at all: an e-mail address or a number.
CITY_GARBAGE = r"@|^[0-9 .\-]+$"

_ACCENT_TABLE = str.maketrans(ACCENTED + APOSTROPHES, UNACCENTED + "'" * len(APOSTROPHES))


def normalise_city(value: str | None) -> str | None:
    """`São Paulo - SP` -> `sao paulo`; None when empty or not a city name."""
    if value is None:
        return None
    city = value.strip().lower().translate(_ACCENT_TABLE)
    match = re.match(CITY_SUFFIX, city, flags=re.DOTALL)
    if match:
        city = match.group(1)
    city = re.sub(r"\s+", " ", city).strip()
    city = CITY_ALIASES.get(city, city)
    if not city or re.search(CITY_GARBAGE, city):
        return None
    return city


# -- zip prefixes -----------------------------------------------------------
ZIP_PATTERN = r"^[0-9]{1,5}$"


def normalise_zip(value: str | None) -> str | None:
    """Zip prefix as 5-char text: leading zeros restored (`1037` -> `01037`)."""
    if value is None:
        return None
    v = value.strip()
    return v.zfill(5) if re.match(ZIP_PATTERN, v) else None


# -- geography --------------------------------------------------------------
# Bounding box of Brazil including its oceanic islands: Fernando de Noronha
# (lng -32.4, zip prefix 53990) and Trindade (lng -29.3) are Brazilian and
# lie east of the mainland's easternmost point (-34.8).
BRAZIL_LAT = (-33.76, 5.28)
BRAZIL_LNG = (-74.0, -28.8)


def in_brazil(lat: float | None, lng: float | None) -> bool:
    if lat is None or lng is None:
        return False
    return BRAZIL_LAT[0] <= lat <= BRAZIL_LAT[1] and BRAZIL_LNG[0] <= lng <= BRAZIL_LNG[1]


# -- calendar ---------------------------------------------------------------
FIXED_HOLIDAYS: dict[tuple[int, int], str] = {
    (1, 1): "Confraternizacao Universal",
    (4, 21): "Tiradentes",
    (5, 1): "Dia do Trabalho",
    (9, 7): "Independencia do Brasil",
    (10, 12): "Nossa Senhora Aparecida",
    (11, 2): "Finados",
    (11, 15): "Proclamacao da Republica",
    (12, 25): "Natal",
}
# Dia Nacional de Zumbi e da Consciencia Negra: national holiday from 2024 (Lei 14.759/2023).
CONSCIENCIA_NEGRA_FROM = 2024


def easter(year: int) -> date:
    """Gregorian Easter Sunday (anonymous Gregorian algorithm, Meeus/Jones/Butcher)."""
    a = year % 19
    b, c = divmod(year, 100)
    d, e = divmod(b, 4)
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    el = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * el) // 451
    month, day = divmod(h + el - 7 * m + 114, 31)
    return date(year, month, day + 1)


def brazil_holidays(year: int) -> dict[date, str]:
    """National holidays of one year, with Carnival (Monday and Tuesday, a
    national 'ponto facultativo' nearly everyone observes), Good Friday and
    Corpus Christi computed from Easter."""
    found = {date(year, m, d): name for (m, d), name in FIXED_HOLIDAYS.items()}
    if year >= CONSCIENCIA_NEGRA_FROM:
        found[date(year, 11, 20)] = "Consciencia Negra"
    e = easter(year)
    found[e - timedelta(days=48)] = "Carnaval (segunda-feira)"
    found[e - timedelta(days=47)] = "Carnaval (terca-feira)"
    found[e - timedelta(days=2)] = "Sexta-feira Santa"
    found[e + timedelta(days=60)] = "Corpus Christi"
    return found


def black_friday(year: int) -> date:
    """The Friday after the fourth Thursday of November."""
    first = date(year, 11, 1)
    first_thursday = first + timedelta(days=(3 - first.weekday()) % 7)
    return first_thursday + timedelta(days=22)


def date_key(d: date) -> int:
    return d.year * 10_000 + d.month * 100 + d.day


UNKNOWN_KEY = -1


# -- run-scoped table names -------------------------------------------------
def run_suffix(run_id: str) -> str:
    """A short identifier-safe suffix unique to a run id (any characters)."""
    clean = re.sub(r"[^a-z0-9]+", "_", run_id.lower()).strip("_")[:16]
    digest = hashlib.sha256(run_id.encode()).hexdigest()[:10]
    return f"{clean}_{digest}" if clean else digest


def run_table(table: str, run_id: str) -> str:
    """`orders__<run>`: where a run writes before it swaps into `orders` (<= 63 chars)."""
    return f"{table[:30]}__r_{run_suffix(run_id)}"
