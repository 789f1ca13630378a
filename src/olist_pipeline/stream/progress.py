"""How far the stream has got: topic watermarks against the offsets the sink stored,
events stored per stream, messages dead-lettered.

Read by the main job (waiting for the consumers to catch up, then its summary).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from psycopg import sql

from olist_pipeline.config import Role, Settings
from olist_pipeline.db import connect
from olist_pipeline.stream.sink import PostgresSink, table_for
from olist_pipeline.stream.topics import STREAMS, stream_spec

if TYPE_CHECKING:
    from confluent_kafka import Consumer

PROBE_GROUP = "olist-run-probe"


class StreamProgress:
    """One probe consumer (metadata and watermarks only: it never subscribes nor commits)
    and each stream's sink (the offsets it stored), open while in a ``with`` block."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._probe: Consumer | None = None
        self._sinks: dict[str, PostgresSink] = {}

    def __enter__(self) -> StreamProgress:
        from confluent_kafka import Consumer

        from olist_pipeline.stream.kafka import reader_config

        group = self.settings.kafka.group(PROBE_GROUP)
        self._probe = Consumer(reader_config(self.settings, group))
        return self

    def __exit__(self, *exc: object) -> None:
        for sink in self._sinks.values():
            sink.close()
        self._sinks.clear()
        if self._probe is not None:
            self._probe.close()
            self._probe = None

    def watermarks(self, topic: str) -> dict[int, tuple[int, int]]:
        """(low, high) per partition of ``topic``; empty if the topic does not exist."""
        from confluent_kafka import TopicPartition

        assert self._probe is not None, "use StreamProgress in a with block"
        meta = self._probe.list_topics(topic, timeout=10).topics.get(topic)
        if meta is None or meta.error:
            return {}
        out = {}
        for part in meta.partitions:
            low, high = self._probe.get_watermark_offsets(TopicPartition(topic, part), timeout=10)
            out[int(part)] = (int(low), int(high))
        return out

    def positions(self) -> dict[tuple[str, int], tuple[int, int]]:
        """(high watermark, next offset the sink stored) per (topic, partition), all streams."""
        out: dict[tuple[str, int], tuple[int, int]] = {}
        for stream in STREAMS:
            spec = stream_spec(stream)
            topic, group = spec.topic_name(self.settings), spec.group(self.settings)
            marks = self.watermarks(topic)
            sink = self._sinks.setdefault(stream, PostgresSink(self.settings, stream))
            stored = sink.stored_offsets(group, topic, sorted(marks))
            for part, (_, high) in marks.items():
                out[(topic, part)] = (high, stored.get(part, 0))
        return out

    def dead_lettered(self) -> dict[str, int]:
        """Messages in each stream's dead-letter topic (high minus low watermarks)."""
        return {
            stream: sum(
                high - low
                for low, high in self.watermarks(
                    stream_spec(stream).dlq_name(self.settings)
                ).values()
            )
            for stream in STREAMS
        }


def stored_events(settings: Settings, role: Role = Role.READER) -> dict[str, int]:
    """Events stored per stream (rows of the sink's tables)."""
    out = {}
    with connect(settings, role) as conn:
        for stream in STREAMS:
            schema, table = table_for(stream).split(".")
            query = sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(schema, table))
            row = conn.execute(query).fetchone()
            out[stream] = int(row[0]) if row else 0
    return out
