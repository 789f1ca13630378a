"""Incremental transforms equal a full rebuild, on real PostgreSQL and Spark.

A scale-0.01 data set split by day (``olist data generate --split daily``):
the history up to START is the first increment, then 30 days are loaded one
by one, each followed by ``transform all`` as an increment. On the way: a day
that arrives late (the day after it is loaded and transformed first), a day
sent twice (same bytes: nothing pending, no layer runs), and a day re-loaded
with ``--replace`` (its tables are rebuilt whole). The days carry status
updates of earlier orders and reviews answered later. Then every staging,
warehouse and marts table is fingerprinted and compared, row for row, with a
``--full-refresh`` build from the same raw batches.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from olist_pipeline.config import Role, Settings
from olist_pipeline.data.split import split_days
from olist_pipeline.ingest.commands import increment_day
from olist_pipeline.transform.incremental import Plan
from olist_pipeline.transform.jobs import run_layers
from tests.conftest import cloned_database

pytestmark = [pytest.mark.integration, pytest.mark.timeout(3600)]

START = "2017-03-01"
DAYS = 30
LAYERS = ("staging", "warehouse", "marts")
LATE = 5  # this day's folder arrives after the next day's
TWICE = 9  # sent again, unchanged
REPLACED = 14  # re-loaded with --replace


def _rows(settings: Settings, query: str, *params: object) -> list[tuple[Any, ...]]:
    import psycopg

    with psycopg.connect(settings.postgres.dsn(Role.ADMIN)) as c:
        return c.execute(query, params).fetchall()


def fingerprint(settings: Settings, schemas: tuple[str, ...]) -> dict[str, tuple[int, str]]:
    """(rows, md5 of the sorted rows as text) of every table of ``schemas``."""
    tables = _rows(
        settings,
        "SELECT table_schema, table_name FROM information_schema.tables"
        " WHERE table_schema = ANY(%s) AND table_type = 'BASE TABLE'"
        " AND table_name NOT LIKE 'live\\_%%' ORDER BY 1, 2",
        list(schemas),
    )
    out = {}
    for schema, table in tables:
        ((n, digest),) = _rows(
            settings,
            f"SELECT count(*), md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), ''))"
            f' FROM "{schema}"."{table}" AS t',
        )
        out[f"{schema}.{table}"] = (n, digest)
    return out


@pytest.fixture(scope="module")
def landing(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("incremental") / "landing"
    olist = str(Path(sys.executable).with_name("olist"))
    cmd = [olist, "data", "generate", "--scale", "0.01", "--seed", "11", "--split", "daily"]
    subprocess.run([*cmd, "--start", START, "--out", str(out)], check=True, capture_output=True)
    return out


@pytest.fixture(scope="module")
def settings(template_database: str, base_settings: Settings) -> Iterator[Settings]:
    with cloned_database(base_settings, template_database, "olist_incr_") as s:
        yield s


def _load(settings: Settings, folder: Path, *, replace: bool = False) -> None:
    from olist_pipeline.ingest.loader import ingest

    result = ingest(
        settings,
        folder,
        batch_id=folder.name,
        run_id=f"ingest-{folder.name}",
        replace=replace,
        data_interval=increment_day(folder),
    )
    assert all(f.status in ("loaded", "skipped") for f in result.files), result.files


def _transform(settings: Settings, run_id: str) -> dict[str, Plan]:
    return run_layers(settings, LAYERS, run_id)


def test_thirty_daily_increments_equal_a_full_rebuild(landing: Path, settings: Settings) -> None:
    from olist_pipeline.dq.gates import run_layer

    folders = split_days(landing)[: DAYS + 1]
    assert len(folders) == DAYS + 1 and folders[0].name == START
    order = list(range(DAYS + 1))
    order[LATE], order[LATE + 1] = order[LATE + 1], order[LATE]
    modes: list[dict[str, str]] = []
    for i in order:
        _load(settings, folders[i])
        plans = _transform(settings, f"incr-{folders[i].name}")
        modes.append({layer: p.describe()["mode"] for layer, p in plans.items()})
        if i == TWICE:
            _load(settings, folders[i])
            again = _transform(settings, f"incr-{folders[i].name}-again")
            assert all(p.noop for p in again.values()), {k: p.describe() for k, p in again.items()}
        if i == REPLACED:
            _load(settings, folders[i], replace=True)
            _transform(settings, f"incr-{folders[i].name}-replaced")

    # The first folder builds everything; the days after it are increments.
    assert modes[0] == dict.fromkeys(LAYERS, "full")
    staged = [m["staging"] for m in modes[1:]]
    assert staged.count("increment") == DAYS, staged
    assert sum(m["warehouse"] == "increment" for m in modes[1:]) >= DAYS - 2, modes
    assert sum(m["marts"] == "increment" for m in modes[1:]) >= DAYS - 2, modes

    # Late reviews and status updates did reach the increments.
    ((versions,),) = _rows(
        settings,
        "SELECT count(*) FROM (SELECT btrim(order_id) FROM raw.orders"
        " GROUP BY 1 HAVING count(DISTINCT _batch_id) > 1) v",
    )
    assert versions > 0, "the days hold no later version of an earlier order"

    # The quality gates reconcile the cumulative totals after the increments.
    for layer in ("staging", "warehouse", "marts"):
        report = run_layer(settings, layer, f"incr-{folders[-1].name}")
        assert report.passed, [(r.check.name, r.message) for r in report.blocking]

    incremental = fingerprint(settings, LAYERS)
    assert incremental["warehouse.fact_orders"][0] > 0
    assert incremental["marts.sales_daily"][0] > 0
    plans = run_layers(settings, LAYERS, "full-refresh", full_refresh=True)
    assert all(p.full for p in plans.values())
    full = fingerprint(settings, LAYERS)
    different = sorted(t for t in full if full[t] != incremental.get(t))
    assert not different, {t: (incremental.get(t), full[t]) for t in different}
