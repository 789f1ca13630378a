"""Benchmark: raw -> staging -> warehouse -> marts on PySpark (local[2]) vs
the same transformations as SQL inside PostgreSQL (tests/bench/transform_sql.py),
measured in the same run on the same ingested data, at scale 1 and scale 5.

Also timed: `olist ingest` of the generated files, so the full batch path
(ingest to marts) can be compared with its target (< 3 min at scale 1; scale 5
at most 5.5x scale 1). Scales come from OLIST_BENCH_SCALES (default "1,5").
Prints figures only; nothing is asserted.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import psycopg
from psycopg import sql

from olist_pipeline.config import Role, Settings, load_settings
from olist_pipeline.db.migrate import migrate
from tests.bench import transform_sql

LAYERS = ("staging", "warehouse", "marts")


def _db(settings: Settings, scale: float) -> Settings:
    name = f"olist_bench_tf_{str(scale).replace('.', '_')}_{os.getpid()}"
    with psycopg.connect(settings.postgres.dsn(Role.ADMIN, "postgres"), autocommit=True) as c:
        c.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
    s = settings.with_database(name)
    migrate(s)
    return s


def _drop(settings: Settings) -> None:
    with psycopg.connect(settings.postgres.dsn(Role.ADMIN, "postgres"), autocommit=True) as c:
        c.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(settings.postgres.database)
            )
        )


def run_scale(base: Settings, scale: float, work: Path) -> dict[str, float]:
    from olist_pipeline.ingest.loader import ingest
    from olist_pipeline.sources.generator import generate
    from olist_pipeline.transform import marts, staging, warehouse
    from olist_pipeline.transform.spark import spark_session

    t: dict[str, float] = {}
    data = work / f"scale-{scale}"
    t0 = time.monotonic()
    generate(data, scale=scale, seed=42)
    t["generate"] = time.monotonic() - t0
    settings = _db(base, scale)
    try:
        t0 = time.monotonic()
        result = ingest(settings, data, run_id=f"bench-{scale}")
        t["ingest"] = time.monotonic() - t0
        assert all(f.status == "loaded" for f in result.files), result.files
        with psycopg.connect(settings.postgres.dsn(Role.ADMIN)) as c:
            row = c.execute("SELECT count(*) FROM raw.orders").fetchone()
        t["orders"] = float(row[0]) if row else 0.0

        if os.environ.get("OLIST_BENCH_SKIP_SPARK"):  # baseline only (quick SQL re-check)
            t.update({"spark_start": float("nan")} | {f"spark_{x}": float("nan") for x in LAYERS})
        else:
            t0 = time.monotonic()
            spark = spark_session(settings, "olist-bench-transform")
            t["spark_start"] = time.monotonic() - t0
            runners = (staging.run, warehouse.run, marts.run)
            for layer, runner in zip(LAYERS, runners, strict=True):
                t0 = time.monotonic()
                runner(settings, f"bench-{scale}", spark)
                t[f"spark_{layer}"] = time.monotonic() - t0
                print(f"   spark {layer}: {t[f'spark_{layer}']:.1f}s", flush=True)

        with psycopg.connect(settings.postgres.dsn(Role.ADMIN), autocommit=True) as c:
            for layer in LAYERS:
                t0 = time.monotonic()
                c.execute(transform_sql.LAYERS[layer].encode())
                t[f"sql_{layer}"] = time.monotonic() - t0
                print(f"   postgres SQL {layer}: {t[f'sql_{layer}']:.1f}s", flush=True)
    finally:
        _drop(settings)
    return t


def main() -> None:
    base = load_settings()
    scales = [float(s) for s in os.environ.get("OLIST_BENCH_SCALES", "1,5").split(",")]
    results: dict[float, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="olist-bench-tf-") as tmp:
        for scale in scales:
            print(f"-- scale {scale:g}: generating, ingesting, transforming ...", flush=True)
            results[scale] = t = run_scale(base, scale, Path(tmp))
            print(
                f"   {int(t['orders'])} orders; generate {t['generate']:.1f}s, "
                f"ingest {t['ingest']:.1f}s, Spark session start {t['spark_start']:.1f}s",
                flush=True,
            )
    print()
    print(f"{'scale':>5} {'layer':<10} {'spark s':>9} {'postgres SQL s':>15} {'spark/sql':>10}")
    for scale, t in results.items():
        for layer in LAYERS:
            sp, sq = t[f"spark_{layer}"], t[f"sql_{layer}"]
            print(f"{scale:>5g} {layer:<10} {sp:>9.1f} {sq:>15.1f} {sp / sq:>10.2f}")
        sp = sum(t[f"spark_{x}"] for x in LAYERS)
        sq = sum(t[f"sql_{x}"] for x in LAYERS)
        print(f"{scale:>5g} {'total':<10} {sp:>9.1f} {sq:>15.1f} {sp / sq:>10.2f}")
        full = t["ingest"] + t["spark_start"] + sp
        print(
            f"{scale:>5g} full batch path (ingest + Spark start + 3 layers): {full:.1f}s"
            f" (target at scale 1: < 180s)"
        )
    if 1.0 in results and 5.0 in results:

        def full(t: dict[str, float]) -> float:
            return t["ingest"] + t["spark_start"] + sum(t[f"spark_{x}"] for x in LAYERS)

        print(
            f"scale 5 / scale 1, full batch path: {full(results[5.0]) / full(results[1.0]):.2f}x"
            " (target <= 5.5x)"
        )


if __name__ == "__main__":
    main()
