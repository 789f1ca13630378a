"""Reading PostgreSQL into Spark and publishing a layer atomically.

Spark's JDBC writer cannot upsert, so a run never writes its targets directly:
each table is first written into a run-scoped table (``<schema>.<table>__r_<run>``,
created ``LIKE`` the target so the migration's column types hold), and then
the whole layer is published in ONE PostgreSQL transaction: TRUNCATE every
target, INSERT from its run table, DROP the run tables. Readers see the old
layer or the new one, never a mix; the targets keep their constraints (the
primary keys enforce each table's grain at publish time), grants and owners;
a failed run leaves the published layer untouched; re-running a run rebuilds
the same rows.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from psycopg import Connection, sql

from olist_pipeline.config import Role, Settings
from olist_pipeline.db import audit, connect
from olist_pipeline.errors import OlistError
from olist_pipeline.logs import get_logger
from olist_pipeline.transform.rules import run_table
from olist_pipeline.transform.spark import jdbc_options

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

log = get_logger(__name__)


class TransformError(OlistError):
    """A transform step could not finish; nothing was published."""


def copy_into(df: DataFrame, dsn: str, qualified: str, cols: list[str], *, partitions: int) -> int:
    """Stream ``df`` into ``qualified`` with PostgreSQL COPY; returns the rows written.

    Each Spark task turns its Arrow batches into CSV (pyarrow, in C) and feeds
    them to one ``COPY ... FROM STDIN`` over its own connection, committed when
    the task's rows are all in: one round trip per batch instead of a
    multi-row INSERT per 10k rows through the JDBC driver (the JDBC write was
    most of each layer's time). It runs where the tasks run, so on the cluster
    the executors write straight to the database, and the row count comes
    back with the tasks' results (no count query afterwards).

    The CSV forms match COPY's: NULL is an empty unquoted field, text is
    always quoted (so an empty string stays one), doubles are written in
    their shortest round-trip form, timestamps with microseconds.
    """
    schema, table = qualified.split(".", 1)
    copy_sql = (
        sql.SQL("COPY {} ({}) FROM STDIN (FORMAT csv)")
        .format(sql.Identifier(schema, table), sql.SQL(", ").join(map(sql.Identifier, cols)))
        .as_string()
    )

    def write(batches: Iterator[Any]) -> Iterator[Any]:
        import io
        import itertools

        import psycopg
        import pyarrow as pa
        import pyarrow.csv as pa_csv

        options = pa_csv.WriteOptions(include_header=False)
        n = 0
        first = next(batches, None)
        if first is not None:
            with (
                psycopg.connect(dsn, application_name="olist-transformer-copy") as conn,
                conn.cursor() as cur,
                cur.copy(copy_sql) as copy,
            ):
                for batch in itertools.chain((first,), batches):
                    buf = io.BytesIO()
                    pa_csv.write_csv(batch, buf, options)
                    copy.write(buf.getbuffer())
                    n += batch.num_rows
        yield pa.RecordBatch.from_pydict({"rows": [n]}, schema=pa.schema([("rows", pa.int64())]))

    # coalesce never adds partitions: a small table keeps its one or two writers.
    written = df.coalesce(partitions).mapInArrow(write, "rows long").collect()
    return int(sum(r["rows"] for r in written))


def read_table(
    spark: SparkSession, settings: Settings, qualified: str, *, parallel_on: str | None = None
) -> DataFrame:
    """A PostgreSQL table as a DataFrame (as the transformer).

    ``parallel_on`` names a bigint column to split the read on (one JDBC
    connection per Spark task), used for the big tables.
    """
    reader = (
        spark.read.format("jdbc")
        .options(**jdbc_options(settings, Role.TRANSFORMER))
        # `timestamp` columns are wall-clock times (Brazil, no zone): keep them so.
        .option("preferTimestampNTZ", "true")
    )
    if parallel_on:
        n = max(2, settings.spark.shuffle_partitions // 2)
        predicates = [f"mod({parallel_on}, {n}) = {i}" for i in range(n)]
        props = {k: v for k, v in jdbc_options(settings, Role.TRANSFORMER).items() if k != "url"}
        props["preferTimestampNTZ"] = "true"
        return reader.jdbc(
            settings.postgres.jdbc_url(), qualified, predicates=predicates, properties=props
        )
    return reader.option("dbtable", qualified).load()


def read_raw(
    spark: SparkSession, settings: Settings, table: str, *, where: str | None = None
) -> DataFrame:
    """Batches of ``raw.<table>`` (all text + lineage), read in parallel.

    ``_version_at`` orders the versions of a key: the start of the data
    interval its batch holds, or when it was loaded for a batch without one,
    so a day that arrives late still sorts by its date. ``where`` (SQL over
    alias ``r``) keeps the rows an increment needs.
    """
    query = (
        f"(SELECT r.*, coalesce(b.data_interval_start, r._loaded_at) AS _version_at"
        # LEFT: a partition attached without a manifest row still stages (by its load time).
        f" FROM raw.{table} r LEFT JOIN audit.batches b"
        f" ON b.table_name = '{table}' AND b.batch_id = r._batch_id"
        + (f" WHERE {where}" if where else "")
        + ") q"
    )
    # An increment's rows are few: one connection, not one per core each re-running the query.
    return read_table(spark, settings, query, parallel_on=None if where else "_row_number")


@dataclass
class Layer:
    """A layer just published, as the DataFrames that were written.

    The next layer built in the same Spark session (``olist transform all``)
    reads these instead of reading the tables back over JDBC. ``cached`` holds
    what the layer keeps in Spark's cache for that; ``release()`` drops it.
    """

    frames: dict[str, DataFrame]
    cached: list[DataFrame] = field(default_factory=list)

    def release(self) -> None:
        # Not df.unpersist(): a Spark Connect server analyses the plan again to find
        # its cache entry, and an increment's plans read key tables that the publish
        # has dropped by now. Clearing the cache needs no plan (the warehouse and the
        # marts end the same way).
        if self.cached:
            self.cached[0].sparkSession.catalog.clearCache()
        self.cached.clear()


class LayerWriter:
    """Collects a run's tables for one layer, then publishes them together."""

    def __init__(self, settings: Settings, schema: str, run_id: str) -> None:
        self.settings = settings
        self.schema = schema
        self.run_id = run_id
        self.written: list[str] = []
        self.rows: dict[str, int] = {}
        self.keys: list[str] = []
        # Rows of each key table, by the name given to key_table().
        self.key_rows: dict[str, int] = {}
        self._lock = threading.Lock()

    def write(self, table: str, df: DataFrame) -> int:
        """Write ``df`` into the run table of ``<schema>.<table>``; returns its row count."""
        target = sql.Identifier(self.schema, table)
        scratch_name = run_table(table, self.run_id)
        scratch = sql.Identifier(self.schema, scratch_name)
        with connect(self.settings, Role.TRANSFORMER, autocommit=True) as conn:
            cols = [
                r[0]
                for r in conn.execute(
                    "SELECT column_name FROM information_schema.columns"
                    " WHERE table_schema = %s AND table_name = %s ORDER BY ordinal_position",
                    (self.schema, table),
                ).fetchall()
            ]
            if not cols:
                raise TransformError(
                    f"{self.schema}.{table} does not exist; run `olist db migrate` first"
                )
            missing = set(cols) - set(df.columns)
            extra = set(df.columns) - set(cols)
            if missing or extra:
                raise TransformError(
                    f"{self.schema}.{table}: the job's columns differ from the table's "
                    f"(missing {sorted(missing)}, unexpected {sorted(extra)})"
                )
            conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(scratch))
            # Types and NOT NULLs from the target; keys are checked when publishing.
            conn.execute(
                sql.SQL("CREATE UNLOGGED TABLE {} (LIKE {} INCLUDING DEFAULTS)").format(
                    scratch, target
                )
            )
        # Listed before the write, so a failed write's run table is dropped too.
        with self._lock:
            self.written.append(table)
        count = copy_into(
            df.select(*cols),
            self.settings.postgres.dsn(Role.TRANSFORMER),
            f"{self.schema}.{scratch_name}",
            cols,
            partitions=max(1, self.settings.spark.shuffle_partitions // 2),
        )
        self.rows[table] = count
        log.info("run_table_written", table=f"{self.schema}.{table}", rows=count)
        return count

    def write_all(
        self, jobs: Mapping[str, DataFrame | Callable[[], DataFrame]], workers: int
    ) -> dict[str, int]:
        """Write each table: ``name -> DataFrame``, or a function that builds it.

        ``workers`` tables at a time: many of a table's Spark jobs have one
        or two tasks, and the driver plans one job while another runs, so
        concurrent jobs fill the gaps (a few percent of the scale-1 transform
        on 2 cores; more where there are more cores than a job's tasks).
        Every job is waited for before an error is raised, so nothing writes
        after a discard.
        Returns the row count of each table.
        """
        from concurrent.futures import ThreadPoolExecutor

        def one(name: str) -> int:
            job = jobs[name]
            return self.write(name, job() if callable(job) else job)

        with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="write") as pool:
            futures = {name: pool.submit(one, name) for name in jobs}
            errors = [f.exception() for f in futures.values()]
        for error in errors:
            if error is not None:
                raise error
        # Publish in declaration order whatever order the writes finished in.
        self.written.sort(key=list(jobs).index)
        return {name: f.result() for name, f in futures.items()}

    def scalar(self, table: str, expression: str) -> Any:
        """One aggregate over a written run table (cheaper in PostgreSQL than a Spark job)."""
        scratch = sql.Identifier(self.schema, run_table(table, self.run_id))
        with connect(self.settings, Role.TRANSFORMER, autocommit=True) as conn:
            row = conn.execute(
                sql.SQL("SELECT {} FROM {}").format(sql.SQL(expression), scratch)
            ).fetchone()
        return row[0] if row else None

    def aggregates(
        self, table: str, expressions: Mapping[str, str], *, published: bool = False
    ) -> dict[str, Any]:
        """Named aggregates over a written run table (or the ``published`` target), in one query."""
        if not expressions:
            return {}
        name = table if published else run_table(table, self.run_id)
        scratch = sql.Identifier(self.schema, name)
        select = sql.SQL(", ").join(
            sql.SQL("{} AS {}").format(sql.SQL(e), sql.Identifier(n))
            for n, e in expressions.items()
        )
        with connect(self.settings, Role.TRANSFORMER, autocommit=True) as conn:
            row = conn.execute(sql.SQL("SELECT {} FROM {}").format(select, scratch)).fetchone()
        assert row is not None
        return {n: (v if v is not None else 0) for n, v in zip(expressions, row, strict=True)}

    def key_table(
        self, name: str, query: sql.SQL | sql.Composed, params: Sequence[Any] = ()
    ) -> str:
        """A run-scoped table of keys (``CREATE ... AS query``): what an increment touches.

        Returns its qualified name. It is dropped with the run tables, when the
        layer publishes or is discarded.
        """
        scratch_name = run_table(f"k_{name}", self.run_id)
        scratch = sql.Identifier(self.schema, scratch_name)
        with connect(self.settings, Role.TRANSFORMER, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(scratch))
            with self._lock:
                self.keys.append(scratch_name)
            created = conn.execute(
                sql.SQL("CREATE UNLOGGED TABLE {} AS ").format(scratch) + query, params
            )
            self.key_rows[name] = created.rowcount
            conn.execute(sql.SQL("ANALYZE {}").format(scratch))
        return f"{self.schema}.{scratch_name}"

    def publish(
        self,
        deletes: Mapping[str, sql.Composed] | None = None,
        before: Callable[[Connection[Any]], None] | None = None,
        after: Callable[[Connection[Any]], None] | None = None,
    ) -> None:
        """Swap every written table into its target in one transaction.

        A table named in ``deletes`` is an increment: that statement removes the
        rows its run table replaces (the keys it rebuilt), instead of the
        TRUNCATE of a full build. ``before`` runs first and ``after`` last in
        the same transaction (the layer's bookkeeping), so the published rows
        and what is recorded about them commit together.
        """
        deletes = deletes or {}
        with connect(self.settings, Role.TRANSFORMER) as conn, conn.transaction():
            # Fail fast instead of queueing behind a long reader forever.
            conn.execute("SET LOCAL lock_timeout = '60s'")
            if before is not None:
                before(conn)
            targets = [sql.Identifier(self.schema, t) for t in self.written if t not in deletes]
            if targets:
                conn.execute(sql.SQL("TRUNCATE {}").format(sql.SQL(", ").join(targets)))
            for table in self.written:
                target = sql.Identifier(self.schema, table)
                scratch = sql.Identifier(self.schema, run_table(table, self.run_id))
                if table in deletes:
                    conn.execute(deletes[table])
                conn.execute(sql.SQL("INSERT INTO {} SELECT * FROM {}").format(target, scratch))
                conn.execute(sql.SQL("DROP TABLE {}").format(scratch))
            if after is not None:
                after(conn)
            for name in self.keys:
                conn.execute(sql.SQL("DROP TABLE {}").format(sql.Identifier(self.schema, name)))
        log.info(
            "layer_published",
            schema=self.schema,
            tables=self.written,
            increment=sorted(t for t in self.written if t in deletes),
        )

    def discard(self) -> None:
        """Drop the run tables of a failed run (best effort)."""
        try:
            with connect(self.settings, Role.TRANSFORMER, autocommit=True) as conn:
                names = [run_table(t, self.run_id) for t in self.written] + self.keys
                for name in names:
                    conn.execute(
                        sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(self.schema, name))
                    )
        except Exception:  # the run's own error is what matters
            log.warning("run_tables_not_dropped", schema=self.schema, tables=self.written)


Stats = dict[str, dict[str, Decimal | int | float]]


def record_stats(settings: Settings, run_id: str, layer: str, stats: Stats) -> None:
    """Replace this run's numbers for ``layer`` in audit.transform_stats."""
    rows = [
        (run_id, layer, table, metric, Decimal(str(value)))
        for table, metrics in stats.items()
        for metric, value in metrics.items()
    ]
    with connect(settings, Role.TRANSFORMER) as conn, conn.transaction():
        conn.execute(
            "DELETE FROM audit.transform_stats WHERE run_id = %s AND layer = %s", (run_id, layer)
        )
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO audit.transform_stats (run_id, layer, table_name, metric, value)"
                " VALUES (%s, %s, %s, %s, %s)",
                rows,
            )


@contextmanager
def step_run(settings: Settings, run_id: str, step: str) -> Iterator[dict[str, Any]]:
    """Record the step in audit.step_runs: running, then succeeded or failed.

    The caller fills the yielded dict (rows_in, rows_out, detail).
    """
    with connect(settings, Role.TRANSFORMER, autocommit=True) as conn:
        audit.step_started(conn, run_id, step)
    out: dict[str, Any] = {"rows_in": None, "rows_out": None, "detail": {}}
    status = "failed"
    try:
        yield out
        status = "succeeded"
    except Exception as exc:
        out["detail"] = {**out["detail"], "error": f"{type(exc).__name__}: {exc}"[:2000]}
        raise
    finally:
        with connect(settings, Role.TRANSFORMER, autocommit=True) as conn:
            audit.step_finished(
                conn,
                run_id,
                step,
                status,
                rows_in=out["rows_in"],
                rows_out=out["rows_out"],
                detail=out["detail"],
            )


def as_stats(values: Mapping[str, Any]) -> dict[str, Decimal | int | float]:
    """Keep the numeric entries of a Spark Row / dict (None -> 0)."""
    return {k: (v if v is not None else 0) for k, v in values.items()}
