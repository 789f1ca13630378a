"""Cost of the raw DQ gate vs the cheapest possible pass over the same data.

Figure: wall time of ``run_layer(raw)`` (every declared raw check, results
recorded) on generated data. Baseline, same run and database: one
``count(*)`` per raw table, i.e. a single sequential scan of everything the
checks read. The ratio says how many scans' worth the gate costs.
Scale: ``BENCH_DQ_SCALE`` (default 0.1, ~10k orders, ~100k geolocation rows).
"""

from __future__ import annotations

import os
import tempfile
import time
import uuid
from pathlib import Path

import psycopg
from psycopg import sql

from olist_pipeline.config import Role, load_settings
from olist_pipeline.contracts.sources import TABLES
from olist_pipeline.db import connect
from olist_pipeline.db.migrate import migrate


def main() -> None:
    from olist_pipeline.data.generator import generate
    from olist_pipeline.dq.gates import run_layer
    from olist_pipeline.ingest.loader import ingest

    scale = float(os.environ.get("BENCH_DQ_SCALE", "0.1"))
    base = load_settings()
    name = f"olist_bench_dq_{uuid.uuid4().hex[:8]}"
    settings = base.with_database(name)
    migrate(settings)
    try:
        with tempfile.TemporaryDirectory() as d:
            generate(d, scale=scale, seed=1)
            ingest(settings, Path(d), run_id="bench")
        with connect(settings, Role.TRANSFORMER, autocommit=True) as conn:
            conn.execute("ANALYZE")
            t0 = time.monotonic()
            rows = 0
            for table in TABLES:
                row = conn.execute(
                    sql.SQL("SELECT count(*) FROM raw.{}").format(sql.Identifier(table))
                ).fetchone()
                rows += int(row[0]) if row else 0
            baseline = time.monotonic() - t0
        t0 = time.monotonic()
        report = run_layer(settings, "raw", "bench")
        figure = time.monotonic() - t0
        print(
            f"dq raw gate, scale {scale} ({rows} raw rows, {len(report.results)} checks): "
            f"{figure:.2f}s; baseline one count(*) scan of every raw table: {baseline:.2f}s "
            f"(x{figure / max(baseline, 1e-6):.0f})"
        )
    finally:
        with psycopg.connect(base.postgres.dsn(Role.ADMIN, "postgres"), autocommit=True) as c:
            c.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


if __name__ == "__main__":
    main()
