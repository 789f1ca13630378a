"""Ingest benchmark: ``olist ingest`` of generated data vs. plain COPY of the same files.

For each scale (default 1, then 5; ``BENCH_INGEST_SCALES=1`` for one) the
generated data set (``olist data generate --scale S --seed 42``, made once
and cached under the state folder) is loaded into a fresh migrated database:

- baseline ``plain COPY``: ``COPY <t> FROM STDIN (FORMAT csv, HEADER)`` of
  each file's raw bytes into unconstrained text tables created beforehand,
  one file after another, one commit per file;
- baseline ``plain COPY x2``: the same, two files at a time (the
  concurrency ingest uses by default), for a like-for-like view;
- ``ingest``: :func:`olist_pipeline.ingest.loader.ingest` (sha256, header
  check, shape scan, partition attach, manifest; two workers).

Rounds alternate the order, and each figure is the best of its rounds (the
machine is shared; the best run is the least disturbed one). Timings are
printed, never asserted.
"""

from __future__ import annotations

import os
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg
from psycopg import sql

from olist_pipeline.config import Role, Settings, load_settings
from olist_pipeline.contracts.sources import CONTRACTS, SourceContract
from olist_pipeline.data.datadir import source_dir
from olist_pipeline.db.migrate import migrate
from olist_pipeline.ingest.loader import ingest
from olist_pipeline.logs import configure_logging

CHUNK = 1 << 20


def _plain_copy_one(settings: Settings, contract: SourceContract, path: Path) -> int:
    with psycopg.connect(settings.postgres.dsn(Role.ADMIN)) as conn:
        with conn.cursor() as cur, path.open("rb", buffering=0) as f:
            target = sql.Identifier("bench_plain", contract.table)
            with cur.copy(
                sql.SQL("COPY {} FROM STDIN (FORMAT csv, HEADER true)").format(target)
            ) as cp:
                while chunk := f.read(CHUNK):
                    cp.write(chunk)
            rows = cur.rowcount
        conn.commit()
    return rows


def plain_copy(settings: Settings, data: Path, workers: int) -> tuple[float, int]:
    """Seconds and rows for a plain COPY of every file into fresh unconstrained tables."""
    with psycopg.connect(settings.postgres.dsn(Role.ADMIN), autocommit=True) as conn:
        conn.execute("DROP SCHEMA IF EXISTS bench_plain CASCADE")
        conn.execute("CREATE SCHEMA bench_plain")
        for c in CONTRACTS:
            conn.execute(
                sql.SQL("CREATE TABLE {} ({})").format(
                    sql.Identifier("bench_plain", c.table),
                    sql.SQL(", ").join(
                        sql.SQL("{} text").format(sql.Identifier(h)) for h in c.header
                    ),
                )
            )
        conn.execute("CHECKPOINT")
    order = sorted(CONTRACTS, key=lambda c: (data / c.file_name).stat().st_size, reverse=True)
    t0 = time.monotonic()
    with ThreadPoolExecutor(workers) as pool:
        rows = sum(pool.map(lambda c: _plain_copy_one(settings, c, data / c.file_name), order))
    seconds = time.monotonic() - t0
    with psycopg.connect(settings.postgres.dsn(Role.ADMIN), autocommit=True) as conn:
        conn.execute("DROP SCHEMA bench_plain CASCADE")
    return seconds, rows


def run_ingest(settings: Settings, data: Path) -> tuple[float, int, str]:
    with psycopg.connect(settings.postgres.dsn(Role.ADMIN), autocommit=True) as conn:
        conn.execute("CHECKPOINT")
    t0 = time.monotonic()
    result = ingest(settings, data, run_id=f"bench-{uuid.uuid4().hex[:6]}")
    seconds = time.monotonic() - t0
    assert result.exit_code in (0, 3), [f.error for f in result.files if f.error]
    with psycopg.connect(settings.postgres.dsn(Role.ADMIN), autocommit=True) as conn:
        # The next round loads the same batches again: start from nothing.
        for c in CONTRACTS:
            parts = conn.execute(
                "SELECT inhrelid::regclass::text FROM pg_inherits WHERE inhparent = %s::regclass",
                (f"raw.{c.table}",),
            ).fetchall()
            for (part,) in parts:
                conn.execute(sql.SQL("DROP TABLE {}").format(sql.SQL(part)))
        conn.execute("TRUNCATE audit.batches, audit.quarantine")
    rows = sum(f.source_rows or 0 for f in result.files)
    biggest = max(result.files, key=lambda f: f.source_rows or 0)
    d = biggest.detail
    note = (
        f"load paths: {', '.join(sorted({f.load_path or '-' for f in result.files}))}; "
        f"{biggest.table}: {biggest.seconds:.2f} s = copy {d.get('copy_seconds', 0):.2f}"
        f" + attach {d.get('attach_seconds', 0):.2f} + commit {d.get('commit_seconds', 0):.2f}"
        " + hash/header/connect"
    )
    return seconds, rows, note


def bench_scale(base: Settings, scale: float, rounds: int) -> None:
    data = source_dir(base, scale=scale, seed=42)
    size = sum((data / c.file_name).stat().st_size for c in CONTRACTS)
    name = f"olist_bench_ingest_{uuid.uuid4().hex[:8]}"
    settings = base.with_database(name)
    migrate(settings)
    best: dict[str, float] = {}
    rows = 0
    try:
        for r in range(rounds):
            steps = ["plain COPY", "plain COPY x2", "ingest"]
            for step in steps if r % 2 == 0 else reversed(steps):
                if step == "ingest":
                    seconds, n, note = run_ingest(settings, data)
                    extra = f" ({note})"
                else:
                    seconds, n = plain_copy(settings, data, 2 if step.endswith("x2") else 1)
                    extra = ""
                rows = rows or n
                assert n == rows, (step, n, rows)
                best[step] = min(best.get(step, float("inf")), seconds)
                print(
                    f"  scale {scale:g} round {r + 1}: {step:<14} {seconds:7.2f} s "
                    f"{n / seconds:>11,.0f} rows/s{extra}",
                    flush=True,
                )
    finally:
        with psycopg.connect(base.postgres.dsn(Role.ADMIN, "postgres"), autocommit=True) as c:
            c.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
    ing = best["ingest"]
    print(
        f"scale {scale:g}: {rows:,} rows, {size / 2**20:,.0f} MiB; best of {rounds}:\n"
        f"  ingest          {ing:7.2f} s {rows / ing:>11,.0f} rows/s\n"
        f"  plain COPY      {best['plain COPY']:7.2f} s {rows / best['plain COPY']:>11,.0f} rows/s"
        f"   ingest/plain ratio (throughput) = {best['plain COPY'] / ing:.2f} (target >= 0.8)\n"
        f"  plain COPY x2   {best['plain COPY x2']:7.2f} s "
        f"{rows / best['plain COPY x2']:>11,.0f} rows/s"
        f"   ingest/plain-x2 ratio = {best['plain COPY x2'] / ing:.2f}",
        flush=True,
    )


def main() -> None:
    base = load_settings()
    configure_logging("WARNING")
    scales = [float(s) for s in os.environ.get("BENCH_INGEST_SCALES", "1,5").split(",") if s]
    rounds = int(os.environ.get("BENCH_INGEST_ROUNDS", "3"))
    for i, scale in enumerate(scales):
        # Larger scales once: they show how the figure scales, not its noise.
        bench_scale(base, scale, rounds if i == 0 else 1)


if __name__ == "__main__":
    main()
