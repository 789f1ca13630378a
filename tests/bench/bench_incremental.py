"""Benchmark: incremental transforms against the full build, on the same raw data, in one run.

A generated data set (OLIST_BENCH_SCALE, default 1) split by day: the history
up to START is loaded and built, then DAYS days are loaded and transformed one
by one (``transform all`` as an increment, all in one Spark session: the
30-day catch-up). Then, as separate ``olist transform all`` processes, as an
Airflow task runs them (so each includes its own Python and JVM start):

- full build: ``--full-refresh`` over everything loaded (the baseline);
- no-op re-run: nothing new since;
- one day's increment: one more day loaded, then transformed.

The 30-day catch-up is set against a full build in the same warm session.
Before the full build the warehouse and marts are fingerprinted, and compared
after it: the increments must have built the same rows. Prints the figures
and their targets, writes .local/bench/incremental.json. Nothing is asserted.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg
from psycopg import sql

from olist_pipeline.config import Role, Settings, load_settings
from tests.bench.support import drop_db, fresh_db

START = "2018-01-01"
DAYS = int(os.environ.get("OLIST_BENCH_DAYS", "30"))
LAYERS = ("staging", "warehouse", "marts")
TARGETS = {"noop": 0.05, "one_day": 0.15, "catch_up": 2.0}


def _db(settings: Settings) -> Settings:
    return fresh_db(settings, f"olist_bench_incr_{os.getpid()}")


def _drop(settings: Settings) -> None:
    drop_db(settings)


def _load(settings: Settings, folder: Path) -> None:
    from olist_pipeline.ingest.commands import increment_day
    from olist_pipeline.ingest.loader import ingest

    result = ingest(
        settings,
        folder,
        batch_id=folder.name,
        run_id=f"bench-ingest-{folder.name}",
        data_interval=increment_day(folder),
    )
    assert all(f.status != "failed" for f in result.files), result.files


def _fingerprint(settings: Settings) -> dict[str, str]:
    out = {}
    with psycopg.connect(settings.postgres.dsn(Role.ADMIN)) as c:
        tables = c.execute(
            "SELECT table_schema, table_name FROM information_schema.tables"
            " WHERE table_schema IN ('warehouse', 'marts') AND table_type = 'BASE TABLE'"
            " AND table_name NOT LIKE 'live\\_%' ORDER BY 1, 2"
        ).fetchall()
        for schema, table in tables:
            row = c.execute(
                sql.SQL(
                    "SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) FROM {} t"
                ).format(sql.Identifier(schema, table))
            ).fetchone()
            out[f"{schema}.{table}"] = row[0] if row else ""
    return out


def _cli(settings: Settings, *args: str) -> float:
    """Wall time of one ``olist transform all`` process against the bench database."""
    olist = str(Path(sys.executable).with_name("olist"))
    env = {**os.environ, "OLIST_PG_DATABASE": settings.postgres.database}
    t0 = time.monotonic()
    subprocess.run([olist, "transform", "all", *args], env=env, check=True, capture_output=True)
    return time.monotonic() - t0


def run(base: Settings, scale: float, work: Path) -> dict[str, object]:
    from olist_pipeline.data.split import split_days
    from olist_pipeline.transform.jobs import built_layers
    from olist_pipeline.transform.spark import spark_session

    landing = work / "landing"
    olist = str(Path(sys.executable).with_name("olist"))
    cmd = [olist, "data", "generate", "--scale", f"{scale:g}", "--seed", "42", "--split", "daily"]
    subprocess.run([*cmd, "--start", START, "--out", str(landing)], check=True)
    folders = split_days(landing)[: DAYS + 2]
    history, days, extra = folders[0], folders[1 : DAYS + 1], folders[DAYS + 1]
    settings = _db(base)
    try:
        spark = spark_session(settings, "olist-bench-incremental")

        def transform(run_id: str, *, full: bool = False) -> float:
            t0 = time.monotonic()
            built_layers(
                settings, run_id, lambda: spark, LAYERS, lambda *_: None, full_refresh=full
            )
            return time.monotonic() - t0

        _load(settings, history)
        history_s = transform("bench-history")
        print(f"   history up to {history.name}: built in {history_s:.1f}s", flush=True)
        per_day: list[float] = []
        for folder in days:
            _load(settings, folder)
            per_day.append(transform(f"bench-{folder.name}"))
        catch_up = sum(per_day)
        print(
            f"   {len(days)} days one by one (one session): {catch_up:.1f}s, per day median "
            f"{statistics.median(per_day):.1f}s, max {max(per_day):.1f}s",
            flush=True,
        )
        before = _fingerprint(settings)
        full_warm = transform("bench-full-warm", full=True)
        equal = _fingerprint(settings) == before
        print(f"   full build, same session: {full_warm:.1f}s; equal to the increments: {equal}")
        spark.stop()

        full = _cli(settings, "--full-refresh", "--run-id", "bench-full")
        noop = _cli(settings, "--run-id", "bench-noop")
        _load(settings, extra)
        one_day = _cli(settings, "--run-id", f"bench-{extra.name}")
        with psycopg.connect(settings.postgres.dsn(Role.ADMIN)) as c:
            row = c.execute("SELECT count(*) FROM staging.orders").fetchone()
        orders = int(row[0]) if row else 0
    finally:
        _drop(settings)
    return {
        "scale": scale,
        "orders": orders,
        "days": len(days),
        "full_build_s": round(full, 2),
        "noop_s": round(noop, 2),
        "one_day_s": round(one_day, 2),
        "catch_up_s": round(catch_up, 2),
        "catch_up_per_day_s": [round(x, 2) for x in per_day],
        "full_build_warm_s": round(full_warm, 2),
        "history_build_s": round(history_s, 2),
        "increments_equal_full_build": equal,
        "ratios": {
            "noop": round(noop / full, 3),
            "one_day": round(one_day / full, 3),
            "catch_up": round(catch_up / full_warm, 3),
        },
        "targets": TARGETS,
    }


def main() -> None:
    base = load_settings()
    scale = float(os.environ.get("OLIST_BENCH_SCALE", "1"))
    print(f"-- scale {scale:g}: history to {START}, then {DAYS} daily increments", flush=True)
    with tempfile.TemporaryDirectory(prefix="olist-bench-incr-") as tmp:
        r = run(base, scale, Path(tmp))
    ratios = r["ratios"]
    assert isinstance(ratios, dict)
    print()
    print(f"{'figure':<42} {'seconds':>8} {'ratio':>7} {'target':>7}")
    print(f"{'full build (olist transform all --full-refresh)':<42} {r['full_build_s']:>8}")
    rows = (
        ("no-op re-run (process)", "noop_s", "noop"),
        ("one day's increment (process)", "one_day_s", "one_day"),
        (f"{r['days']} days one by one (one session)", "catch_up_s", "catch_up"),
    )
    for label, key, name in rows:
        ok = "met" if ratios[name] <= TARGETS[name] else "NOT met"
        print(f"{label:<42} {r[key]:>8} {ratios[name]:>7} {TARGETS[name]:>7}  {ok}")
    print(
        f"(the catch-up is set against a full build in the same session: {r['full_build_warm_s']}s)"
    )
    print(f"increments equal the full build: {r['increments_equal_full_build']}")
    # Connect: each process is a client of the stack's warm server (no JVM start of its
    # own); in-process (OLIST_SPARK_CONNECT=false): each process starts its own JVM.
    r["spark_mode"] = "connect" if base.spark.remote else "in-process"
    print(f"Spark: {r['spark_mode']}")
    out = Path(".local/bench/incremental.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(r, indent=2) + "\n", encoding="utf-8")
    print(f"\nwritten: {out}")


if __name__ == "__main__":
    main()
