"""The peer of the stream sink: one Kafka Connect worker with the Debezium JDBC sink.

What a data engineer would deploy instead of ``olist stream consume``: Kafka
Connect (``connect-runtime`` of the broker's Kafka version, standalone mode,
one worker, one task per partition) running ``io.debezium:debezium-connector-jdbc``,
both from Maven Central through the project's jar resolution
(``jars.ensure(settings, "connect")``, ``src/olist_pipeline/stack/connect-pom.xml``).

It reads the same topic as ours and writes an equivalent table (same columns
and types, same ``stored_at DEFAULT now()``, no ``event`` jsonb copy: the peer
cannot keep the raw document beside its parsed fields, which makes its rows
smaller than ours). Our events carry no schema envelope, so the JSON
converter gets the schema from ``schema.content`` (KIP-1054); ``Flatten`` and
``ReplaceField`` lift the payload's fields to columns and ``InsertField`` adds
the Kafka coordinates, all transforms that ship with Connect.

Modes:
- ``insert``: plain INSERTs into a table without a key (the connector's
  default mode): at-least-once, a replay after a crash doubles rows;
- ``upsert``: ``primary.key.mode=record_value`` on ``event_id`` into a table
  keyed by it: a replay overwrites, so no visible duplicate.
Either way the consumer offsets are committed by the Connect framework every
``offset.flush.interval.ms`` (left at its default of 60 s), apart from the
database transaction.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import psycopg

from olist_pipeline.config import Role, Settings
from olist_pipeline.stack import jars

PEER_SCHEMA = "peer"
PEER_TABLE = f"{PEER_SCHEMA}.order_events"
# The Debezium JDBC sink's default batch.size is 500; its performance write-up
# found 1,000 the best, which the consumer's max.poll.records must allow.
BATCH_SIZE = int(os.environ.get("BENCH_STREAM_BATCH_SIZE", "1000"))

# The event document's fields as a Connect schema (the JSON converter ignores
# fields it does not name, e.g. payload.estimated_delivery_at).
_VALUE_SCHEMA: dict[str, Any] = {
    "type": "struct",
    "optional": False,
    "fields": [
        {"field": "event_id", "type": "string", "optional": False},
        {"field": "event_type", "type": "string", "optional": False},
        {"field": "schema_version", "type": "int16", "optional": False},
        {"field": "order_id", "type": "string", "optional": False},
        {"field": "sequence", "type": "int32", "optional": False},
        {"field": "occurred_at", "type": "string", "optional": False},
        {"field": "produced_at", "type": "string", "optional": False},
        {
            "field": "payload",
            "type": "struct",
            "optional": False,
            "fields": [
                {"field": "order_status", "type": "string", "optional": False},
                {"field": "customer_id", "type": "string", "optional": False},
            ],
        },
    ],
}


def create_table(settings: Settings, mode: str) -> None:
    """(Re)create the peer's table in the bench database: keyed by event_id only in upsert."""
    key = "PRIMARY KEY" if mode == "upsert" else ""
    with psycopg.connect(settings.postgres.dsn(Role.ADMIN), autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA IF NOT EXISTS {PEER_SCHEMA}")
        conn.execute(f"DROP TABLE IF EXISTS {PEER_TABLE}")
        conn.execute(
            f"""CREATE TABLE {PEER_TABLE} (
                event_id        uuid         NOT NULL {key},
                event_type      text         NOT NULL,
                schema_version  smallint     NOT NULL,
                order_id        text         NOT NULL,
                sequence        integer      NOT NULL,
                occurred_at     timestamptz  NOT NULL,
                produced_at     timestamptz  NOT NULL,
                order_status    text         NOT NULL,
                customer_id     text         NOT NULL,
                kafka_topic     text         NOT NULL,
                kafka_partition integer      NOT NULL,
                kafka_offset    bigint       NOT NULL,
                stored_at       timestamptz  NOT NULL DEFAULT now()
            )"""
        )


def _rest_port() -> int:
    # 0: any free port. A fixed one may still be held right after a kill -9 and
    # the restarted worker would stop with "Address already in use".
    return int(os.environ.get("BENCH_CONNECT_PORT", "0"))


class ConnectPeer:
    """One standalone Connect worker running the Debezium JDBC sink on ``topic``."""

    def __init__(
        self, settings: Settings, topic: str, mode: str, name: str, work: Path | None = None
    ) -> None:
        if mode not in ("insert", "upsert"):
            raise ValueError(f"peer mode must be insert or upsert, not {mode!r}")
        self.settings = settings
        self.topic = topic
        self.mode = mode
        self.name = name
        self.work = work or Path(tempfile.mkdtemp(prefix=f"connect-{name}-"))
        self.work.mkdir(parents=True, exist_ok=True)
        self.log_path = self.work / "connect.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self._write_config()

    def _write_config(self) -> None:
        pg = self.settings.postgres
        creds = pg.creds(Role.ADMIN)
        worker = {
            "bootstrap.servers": self.settings.kafka.bootstrap_servers,
            "key.converter": "org.apache.kafka.connect.storage.StringConverter",
            "value.converter": "org.apache.kafka.connect.json.JsonConverter",
            "value.converter.schemas.enable": "true",
            "value.converter.schema.content": json.dumps(_VALUE_SCHEMA, separators=(",", ":")),
            "offset.storage.file.filename": str(self.work / "connect.offsets"),
            "listeners": f"http://127.0.0.1:{_rest_port()}",
            # Every plugin here has a ServiceLoader manifest: no classpath scan at start.
            "plugin.discovery": "service_load",
            "consumer.max.poll.records": str(BATCH_SIZE),
            "consumer.isolation.level": "read_committed",
            # Ours runs with a 10 s session too: a restarted worker need not wait
            # the default 45 s for its killed predecessor to leave the group.
            "consumer.session.timeout.ms": "10000",
            "consumer.heartbeat.interval.ms": "1666",
        }
        # stringtype=unspecified: the server casts text to uuid / timestamptz;
        # reWriteBatchedInserts: the driver sends a batch as multi-row INSERTs.
        url = f"{pg.jdbc_url()}?stringtype=unspecified&reWriteBatchedInserts=true"
        connector = {
            "name": self.name,
            "connector.class": "io.debezium.connector.jdbc.JdbcSinkConnector",
            "tasks.max": "1",
            "topics": self.topic,
            "connection.url": url,
            "connection.username": creds.user,
            "connection.password": creds.password,
            "insert.mode": self.mode,
            "primary.key.mode": "record_value" if self.mode == "upsert" else "none",
            "schema.evolution": "none",
            "collection.name.format": PEER_TABLE,
            "batch.size": str(BATCH_SIZE),
            "transforms": "flatten,rename,meta",
            "transforms.flatten.type": "org.apache.kafka.connect.transforms.Flatten$Value",
            "transforms.flatten.delimiter": "_",
            "transforms.rename.type": "org.apache.kafka.connect.transforms.ReplaceField$Value",
            "transforms.rename.renames": (
                "payload_order_status:order_status,payload_customer_id:customer_id"
            ),
            "transforms.meta.type": "org.apache.kafka.connect.transforms.InsertField$Value",
            "transforms.meta.topic.field": "kafka_topic",
            "transforms.meta.partition.field": "kafka_partition",
            "transforms.meta.offset.field": "kafka_offset",
        }
        if self.mode == "upsert":
            connector["primary.key.fields"] = "event_id"
        (self.work / "worker.properties").write_text(_properties(worker))
        (self.work / "connector.properties").write_text(_properties(connector))
        (self.work / "log4j2.properties").write_text(
            "status = warn\n"
            "appender.file.type = File\nappender.file.name = FILE\n"
            f"appender.file.fileName = {self.log_path}\n"
            "appender.file.layout.type = PatternLayout\n"
            "appender.file.layout.pattern = [%d] %p %c{1}: %m%n\n"
            "rootLogger.level = WARN\nrootLogger.appenderRef.file.ref = FILE\n"
        )

    def start(self) -> None:
        lib = jars.ensure(self.settings, "connect")
        # The JVM flags Kafka's own start scripts give Connect.
        cmd = [
            "java",
            "-Xms256m",
            "-Xmx1g",
            "-XX:+UseG1GC",
            "-XX:MaxGCPauseMillis=20",
            "-XX:InitiatingHeapOccupancyPercent=35",
            "-XX:+ExplicitGCInvokesConcurrent",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={self.work / 'log4j2.properties'}",
            "-cp",
            f"{lib}/*",
            "org.apache.kafka.connect.cli.ConnectStandalone",
            str(self.work / "worker.properties"),
            str(self.work / "connector.properties"),
        ]
        out = (self.work / "stdout.log").open("ab")
        self.proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        """kill -9: no flush, no offset commit."""
        if self.alive():
            assert self.proc is not None
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(30)

    def stop(self, timeout: float = 60) -> None:
        """SIGTERM: Connect stops the task, which flushes and commits its offsets."""
        if self.alive():
            assert self.proc is not None
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()

    def log_tail(self, chars: int = 3000) -> str:
        text = ""
        for f in ("stdout.log", "connect.log"):
            p = self.work / f
            if p.is_file():
                text += f"--- {f}\n" + p.read_text(errors="replace")[-chars:]
        return text


def _properties(values: dict[str, str]) -> str:
    # Properties files treat backslash as an escape, so JSON text and '$' stay literal.
    return "".join(f"{k}={v.replace(chr(92), chr(92) * 2)}\n" for k, v in values.items())
