"""The live sales query: Kafka source -> contracts on the executors -> ``foreachBatch``.

Spark's Kafka source reads the order and payment topics and keeps the
offsets of each micro-batch in the checkpoint (``.local/live/checkpoint``
locally, a volume on the cluster). ``mapInArrow`` validates every record
with the consumers' contracts on the executors (``stream.live.frames``); in
``foreachBatch`` Spark aggregates the micro-batch by event-time minute and
:class:`~olist_pipeline.stream.live.sink.LiveSink` merges the aggregates into
PostgreSQL in one transaction with the batch id. A restart from the
checkpoint replays the batch whose commit Spark had not logged, and the
ledger skips it if PostgreSQL already has it.

Why the watermark is the sink's and not Spark's ``withWatermark``:

- Spark's watermark acts only inside a stateful streaming operator (a
  streaming aggregation, ``dropDuplicatesWithinWatermark``, a stream-stream
  join). This query has none: the running totals are the PostgreSQL rows,
  merged additively per micro-batch, so that they commit with the batch id.
  On the ``foreachBatch`` frame (a batch frame) ``withWatermark`` is a no-op.
- Where it acts, Spark drops a late row inside the operator and reports only
  ``numRowsDroppedByWatermark`` in the progress; the row itself is gone, and
  the issue requires late events kept (``marts.live_late_events``).
  Measured on our Spark (test_live_sales.py, the ``spark_watermark`` test):
  6 rows, a 10-minute watermark, 2 rows 2 h behind; with a windowed count 4
  reach ``foreachBatch`` and the progress says 2 dropped; without a stateful
  operator (this query's shape) all 6 reach it and the watermark changes nothing.
- Spark keeps its watermark in the checkpoint's offset log; a fresh
  checkpoint starts it again from nothing. Pruning the applied event ids
  below the watermark (V063) is sound only if the watermark never moves
  back, across checkpoints and a wider ``--watermark-delay`` too; the
  sink's horizon is kept in ``marts.live_batches`` in the same transaction
  as the prune, global and monotonic.

Both compute the same thing from the same input: the newest event time seen
minus the delay, taken across all partitions. So both make a fast replay of
years of events late when one partition runs ahead (see ``run_live``); the
sink's at least keeps those events and counts them.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from olist_pipeline.config import Settings, Target
from olist_pipeline.errors import UsageError
from olist_pipeline.logs import get_logger
from olist_pipeline.metrics.metrics import metric
from olist_pipeline.stream.events import ORDER_STREAM, PAYMENT_STREAM
from olist_pipeline.stream.live import frames
from olist_pipeline.stream.live.frames import SparkBatch
from olist_pipeline.stream.live.sink import BatchResult, LiveSink
from olist_pipeline.stream.topics import stream_spec

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.streaming.query import StreamingQuery

log = get_logger(__name__)

QUERY_NAME = "olist_live_sales"
FETCH_MAX_WAIT_MS = 20


@dataclass(frozen=True)
class LiveOptions:
    checkpoint: Path | None = None  # default: <state dir>/live/checkpoint
    watermark_delay: timedelta = timedelta(days=1)
    max_offsets_per_trigger: int = 20_000
    trigger_seconds: float = 2.0
    until_caught_up: bool = False
    metrics_host: str = "127.0.0.1"
    metrics_port: int | None = None
    starting_offsets: str = "earliest"


@dataclass
class LiveSummary:
    batches: int = 0
    skipped_batches: int = 0
    events: int = 0
    duplicates: int = 0
    late: int = 0
    invalid: int = 0
    seconds: float = 0.0
    checkpoint: str = ""
    query_id: str = ""
    by_batch: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        out = dict(self.__dict__)
        out.pop("by_batch")
        return out


def checkpoint_dir(settings: Settings, opts: LiveOptions) -> Path:
    if opts.checkpoint is not None:
        return opts.checkpoint
    return settings.local.state_dir / "live" / "checkpoint"


def parse_duration(text: str) -> timedelta:
    """``90s``, ``10m``, ``6h``, ``1d`` or plain seconds."""
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    raw = text.strip().lower()
    scale = units.get(raw[-1:])
    number = raw[:-1] if scale else raw
    try:
        seconds = float(number) * (scale or 1)
    except ValueError:
        raise UsageError(
            f"watermark delay {text!r} is not a duration; use e.g. 90s, 10m, 6h or 1d"
        ) from None
    if seconds < 0:
        raise UsageError(f"watermark delay {text!r} must not be negative")
    return timedelta(seconds=seconds)


def _kafka_jars(settings: Settings) -> list[str]:
    """Jars to add to the session: spark-sql-kafka locally; the image already has them."""
    if settings.target is not Target.LOCAL:
        return []
    from olist_pipeline.stack import jars

    return [str(p) for p in jars.spark_kafka_jars(settings)]


def live_session(settings: Settings) -> SparkSession:
    """The project's session (transform.spark) plus spark-sql-kafka on the classpath."""
    from olist_pipeline.transform import spark as spark_module

    extra = _kafka_jars(settings)
    if extra:
        # spark.jars is set by the shared builder (the JDBC jar); the session's
        # builder keeps the last value per key, so join ours through the
        # environment Spark reads at launch instead of rebuilding it.
        os.environ["PYSPARK_SUBMIT_ARGS"] = (
            f"--jars {','.join(extra)} --conf spark.ui.showConsoleProgress=false pyspark-shell"
        )
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    # In-process: foreachBatch updates this process's summary and metrics.
    spark = spark_module.spark_session(settings, QUERY_NAME, in_process=True)
    # A micro-batch is at most max_offsets_per_trigger rows: one shuffle partition and no
    # adaptive re-planning per stage. Measured on 5,000-event batches (load average ~6):
    # the aggregate job 0.46-0.61 s against 0.64-0.70 s with the defaults (4, adaptive).
    spark.conf.set("spark.sql.shuffle.partitions", "1")
    spark.conf.set("spark.sql.adaptive.enabled", "false")
    return spark


class LiveJob:
    def __init__(self, settings: Settings, opts: LiveOptions) -> None:
        self.settings = settings
        self.opts = opts
        self.checkpoint = checkpoint_dir(settings, opts)
        self.topics = {
            stream_spec(s).topic_name(settings): s for s in (ORDER_STREAM, PAYMENT_STREAM)
        }
        self.summary = LiveSummary(checkpoint=str(self.checkpoint))
        self._sink: LiveSink | None = None
        self.m_batch = metric("olist_live_batch_seconds")
        self.m_events = metric("olist_live_events_total")
        self.m_invalid = metric("olist_live_invalid_events_total")
        self.m_late = metric("olist_live_late_events_total")
        self.m_batches = metric("olist_live_batches_total")
        self.m_rows = metric("olist_live_input_rows_per_second")
        self.m_wm_delay = metric("olist_live_watermark_delay_seconds")
        self.m_wm = metric("olist_live_watermark_timestamp_seconds")
        self.m_progress = metric("olist_live_last_progress_timestamp_seconds")
        self.m_e2e = metric("olist_live_event_lag_seconds")
        for cls in ("oversized", "not_json", "unknown_event_type"):
            self.m_invalid.labels(cls)
        self.m_invalid.labels("unsupported_schema_version")
        self.m_invalid.labels("schema_invalid")

    # -- the micro-batch --------------------------------------------------
    def sink(self) -> LiveSink:
        if self._sink is None:
            # Written by Spark when the query starts, before its first batch.
            meta = json.loads((self.checkpoint / "metadata").read_text())
            self._sink = LiveSink(self.settings, str(meta["id"]), self.opts.watermark_delay)
            self.summary.query_id = str(meta["id"])
        return self._sink

    def process(self, df: DataFrame, batch_id: int) -> None:
        """``foreachBatch``: ``df`` is the micro-batch already parsed on the executors."""
        t0 = time.monotonic()
        # Cached: the sink runs more than one Spark job over it (the ids, the aggregates),
        # and the contracts must run once per record, not once per job. One partition: a
        # micro-batch is small, and on one partition the aggregates need no shuffle (one
        # stage instead of four: the aggregate job 0.55 -> 0.45 s per 5,000 events).
        df = df.coalesce(1).persist()
        try:
            batch = SparkBatch(df)
            result = self.sink().apply(batch_id, batch)
        finally:
            df.unpersist()
        self._record(result, batch.invalid_counts, time.monotonic() - t0)

    def _record(self, result: BatchResult, invalid: dict[str, int], seconds: float) -> None:
        s = self.summary
        if result.skipped:
            s.skipped_batches += 1
            self.m_batches.labels("skipped").inc()
            log.warning("live_batch_skipped", batch_id=result.batch_id, reason="already committed")
            return
        s.batches += 1
        s.events += result.applied
        s.duplicates += result.duplicates
        s.late += result.late
        s.invalid += result.invalid
        self.m_batches.labels("committed").inc()
        self.m_batch.observe(seconds)
        self.m_events.inc(result.applied)
        self.m_late.inc(result.late)
        for cls, n in invalid.items():
            self.m_invalid.labels(cls).inc(n)
        now = time.time()
        if result.watermark is not None:
            self.m_wm.set(result.watermark.timestamp())
            self.m_wm_delay.set(now - result.watermark.timestamp())
        if result.newest_produced is not None:
            self.m_e2e.set(max(0.0, now - result.newest_produced.timestamp()))
        entry = {
            "batch_id": result.batch_id,
            "received": result.received,
            "applied": result.applied,
            "duplicates": result.duplicates,
            "late": result.late,
            "invalid": result.invalid,
            "max_event_time": result.max_event_time.isoformat() if result.max_event_time else None,
            "watermark": result.watermark.isoformat() if result.watermark else None,
            "pruned": result.pruned,
            "seconds": round(seconds, 3),
        }
        s.by_batch.append(entry)
        log.info("live_batch_committed", **entry)

    # -- the query ----------------------------------------------------------
    def start(self, spark: SparkSession) -> StreamingQuery:
        raw = (
            spark.readStream.format("kafka")
            .option("kafka.bootstrap.servers", self.settings.kafka.bootstrap_servers)
            .option("subscribe", ",".join(sorted(self.topics)))
            .option("startingOffsets", self.opts.starting_offsets)
            .option("maxOffsetsPerTrigger", str(self.opts.max_offsets_per_trigger))
            # Only committed records: the producer is idempotent and transactional readers
            # must not see aborted sends.
            .option("kafka.isolation.level", "read_committed")
            # A micro-batch that ends at the end of a partition (every batch once caught up)
            # otherwise waits the broker's fetch.max.wait.ms (500 ms) per partition for records
            # past its end offset: measured 1.5-1.7 s of a 0.25 s scan over three partitions.
            .option("kafka.fetch.max.wait.ms", str(FETCH_MAX_WAIT_MS))
            .load()
        )
        self.checkpoint.parent.mkdir(parents=True, exist_ok=True)
        return (
            frames.parse(raw, self.topics)
            .writeStream.queryName(QUERY_NAME)
            .foreachBatch(self.process)
            .option("checkpointLocation", str(self.checkpoint))
            .trigger(processingTime=f"{self.opts.trigger_seconds} seconds")
            .start()
        )

    def _progress(self, query: StreamingQuery) -> None:
        progress = query.lastProgress
        if not progress:
            return
        # Spark's own progress time: it moves with every batch and every ~10 s while idle,
        # and stops when a batch hangs, which is what the stall alert looks for.
        stamp = str(progress.get("timestamp") or "")
        try:
            self.m_progress.set(datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp())
        except ValueError:
            self.m_progress.set(time.time())
        rate = progress.get("inputRowsPerSecond")
        if isinstance(rate, int | float):
            self.m_rows.set(float(rate))

    def run(self) -> LiveSummary:
        t0 = time.monotonic()
        server = None
        if self.opts.metrics_port is not None:
            from olist_pipeline.stream.health import HealthServer, HealthState

            state = HealthState(liveness_timeout=600.0)
            state.assigned, state.db_ok = 1, True
            server = HealthServer(state, self.opts.metrics_host, self.opts.metrics_port).start()
        spark = live_session(self.settings)
        log.info(
            "live_started",
            checkpoint=str(self.checkpoint),
            topics=sorted(self.topics),
            watermark_delay_seconds=self.opts.watermark_delay.total_seconds(),
            until_caught_up=self.opts.until_caught_up,
        )
        query = self.start(spark)
        try:
            if self.opts.until_caught_up:
                # Blocks until every offset available now is processed and committed.
                query.processAllAvailable()
                self._progress(query)
            else:
                stopping = threading.Event()
                # SIGTERM (a pod stop, Ctrl-C): stop between batches; the checkpoint and the
                # ledger agree at any point, so a restart resumes where this one ended.
                for sig in (signal.SIGTERM, signal.SIGINT):
                    signal.signal(sig, lambda *_: stopping.set())
                while query.isActive and not stopping.is_set():
                    query.awaitTermination(1)
                    self._progress(query)
                    if server is not None:
                        server.state.beat()
                error = query.exception()
                if error is not None:
                    raise RuntimeError(f"live query failed: {error}")
        finally:
            if query.isActive:
                query.stop()
            if server is not None:
                server.stop()
        self.summary.seconds = round(time.monotonic() - t0, 2)
        log.info("live_stopped", **self.summary.as_dict())
        return self.summary
