"""Benchmark: raw -> staging -> warehouse -> marts on PySpark (local[2]) vs
the same transformations as SQL inside PostgreSQL (tests/bench/transform_sql.py),
measured in the same run on the same ingested data, at scale 1 and scale 5.

The three Spark layers run as `olist transform all` does: one session, each
layer handed to the next in memory. Also timed: `olist ingest` of the
generated files and the session start, the full batch path. Scales come from
OLIST_BENCH_SCALES (default "1,5"). Prints the figures, their ratios against
the targets, and writes them to .local/bench/transform.json (per scale and
layer {"spark_s", "sql_s"}, plus full_path_s). Nothing is asserted.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path

import psycopg

from olist_pipeline.config import Role, Settings, load_settings
from tests.bench import transform_sql
from tests.bench.support import drop_db, fresh_db

LAYERS = ("staging", "warehouse", "marts")


def _db(settings: Settings, scale: float) -> Settings:
    return fresh_db(settings, f"olist_bench_tf_{str(scale).replace('.', '_')}_{os.getpid()}")


def _drop(settings: Settings) -> None:
    drop_db(settings)


def run_scale(base: Settings, scale: float, work: Path) -> dict[str, float]:
    from olist_pipeline.data.generator import generate
    from olist_pipeline.ingest.loader import ingest
    from olist_pipeline.transform.jobs import built_layers
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

            def built(layer: str, seconds: float) -> None:
                t[f"spark_{layer}"] = seconds
                print(f"   spark {layer}: {seconds:.1f}s", flush=True)

            # As `olist transform all`: one session, each layer handed to the next.
            built_layers(settings, f"bench-{scale}", lambda: spark, LAYERS, built)

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
    # Connect: a client of the stack's warm server (its JVM start is not in any figure);
    # in-process: OLIST_SPARK_CONNECT=false, the session start includes the JVM's.
    mode = "connect" if base.spark.remote else "in-process"
    print(f"Spark: {mode}")
    report: dict[str, object] = {"scales": {}, "spark_mode": mode}
    for scale, t in results.items():
        entry: dict[str, object] = {}
        for layer in LAYERS:
            sp, sq = t[f"spark_{layer}"], t[f"sql_{layer}"]
            entry[layer] = {"spark_s": round(sp, 2), "sql_s": round(sq, 2)}
            print(f"{scale:>5g} {layer:<10} {sp:>9.1f} {sq:>15.1f} {sp / sq:>10.2f}")
        sp = _spark_total(t)
        sq = sum(t[f"sql_{x}"] for x in LAYERS)
        print(f"{scale:>5g} {'total':<10} {sp:>9.1f} {sq:>15.1f} {sp / sq:>10.2f}")
        full = t["ingest"] + t["spark_start"] + sp
        entry |= {
            "total": {"spark_s": round(sp, 2), "sql_s": round(sq, 2)},
            "full_path_s": round(full, 2),
            "ingest_s": round(t["ingest"], 2),
            "spark_start_s": round(t["spark_start"], 2),
            "orders": int(t["orders"]),
        }
        report["scales"][f"{scale:g}"] = entry  # type: ignore[index]
        print(f"{scale:>5g} full batch path (ingest + Spark start + 3 layers): {full:.1f}s")
    print()
    _targets(results)
    out = Path(".local/bench/transform.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"\nwritten: {out}")


def _spark_total(t: dict[str, float]) -> float:
    return sum(t[f"spark_{x}"] for x in LAYERS)


def _targets(results: dict[float, dict[str, float]]) -> None:
    """The issue's targets, each next to the figure of this run."""

    def ratio(t: dict[str, float]) -> float:
        return _spark_total(t) / sum(t[f"sql_{x}"] for x in LAYERS)

    def check(ok: bool) -> str:
        return "met" if ok else "NOT met"

    if 1.0 in results:
        t = results[1.0]
        worst = max(t[f"spark_{x}"] / t[f"sql_{x}"] for x in LAYERS)
        r = ratio(t)
        print(f"target scale 1: spark/sql {r:.2f}x <= 1.0x (stretch 0.5x): {check(r <= 1.0)}")
        print(f"target scale 1: worst layer {worst:.2f}x <= 1.5x: {check(worst <= 1.5)}")
    if 5.0 in results:
        r = ratio(results[5.0])
        print(f"target scale 5: spark/sql {r:.2f}x <= 0.7x: {check(r <= 0.7)}")
    if 0.1 in results and 1.0 in results:
        f = _spark_total(results[0.1]) / _spark_total(results[1.0])
        print(f"target fixed cost: scale 0.1 / scale 1 layers {f:.2f}x <= 0.2x: {check(f <= 0.2)}")


if __name__ == "__main__":
    main()
