"""Spark column expressions for the rules in ``olist_pipeline.transform.rules``."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from olist_pipeline.transform import rules

if TYPE_CHECKING:
    from pyspark.sql import Column

TIMESTAMP_FORMATS = ("yyyy-MM-dd HH:mm:ss", "yyyy-MM-dd HH:mm", "yyyy-MM-dd")


def blank_to_null(c: Column) -> Column:
    from pyspark.sql import functions as F

    t = F.trim(c)
    return F.when(t == "", F.lit(None)).otherwise(t)


def city(c: Column) -> Column:
    """``rules.normalise_city`` as one chain of string functions.

    Each step reads the previous one exactly once: a ``when(...).otherwise(v)``
    per alias would copy the whole chain into every branch, and the tree (and
    the per-row work) doubles with each alias.
    """
    from pyspark.sql import functions as F

    v = F.translate(
        F.lower(F.trim(c)),
        rules.ACCENTED + rules.APOSTROPHES,
        rules.UNACCENTED + "'" * len(rules.APOSTROPHES),
    )
    # The suffix pattern spans the whole value, so replacing it by its first
    # group strips the suffix and leaves a value without one untouched.
    v = F.regexp_replace(v, "(?s)" + rules.CITY_SUFFIX, "$1")
    v = F.trim(F.regexp_replace(v, r"\s+", " "))
    for alias, name in rules.CITY_ALIASES.items():
        v = F.regexp_replace(v, f"^{re.escape(alias)}$", name)
    # Garbage (an e-mail, a number) becomes "", and "" becomes NULL.
    v = F.regexp_replace(v, r"(?s)^.*(" + rules.CITY_GARBAGE + r").*$", "")
    return F.nullif(v, F.lit(""))


def zip_prefix(c: Column) -> Column:
    from pyspark.sql import functions as F

    t = F.trim(c)
    return F.when(t.rlike(rules.ZIP_PATTERN), F.lpad(t, 5, "0"))


def timestamp(c: Column) -> Column:
    """Wall-clock timestamp (no zone); NULL when it does not parse."""
    from pyspark.sql import functions as F

    t = blank_to_null(c)
    parsed = F.coalesce(*[F.try_to_timestamp(t, F.lit(fmt)) for fmt in TIMESTAMP_FORMATS])
    # Parsed in the session zone (UTC), so the NTZ cast keeps the wall clock.
    return parsed.cast("timestamp_ntz")


def integer(c: Column) -> Column:
    """Whole numbers, also when written as `500.0` (a float-typed writer)."""
    from pyspark.sql import functions as F

    d = blank_to_null(c).try_cast("decimal(20,4)")
    return F.when(d == F.floor(d), d.try_cast("int"))


def money(c: Column) -> Column:
    t = blank_to_null(c)
    from pyspark.sql import functions as F

    return F.when(t.rlike(r"^-?[0-9]+(\.[0-9]+)?$"), t.try_cast("decimal(12,2)"))


def double(c: Column) -> Column:
    return blank_to_null(c).try_cast("double")


def in_brazil(lat: Column, lng: Column) -> Column:
    from pyspark.sql import functions as F

    inside = lat.between(rules.BRAZIL_LAT[0], rules.BRAZIL_LAT[1]) & lng.between(
        rules.BRAZIL_LNG[0], rules.BRAZIL_LNG[1]
    )
    return F.coalesce(inside, F.lit(False))
