"""Stream sink benchmark: ours against Kafka Connect with the Debezium JDBC sink, on the
same topic, broker and server, next to the raw consume rate; kill -9 at random progress
points of a replay for each sink; end-to-end latency at a fixed 2,000 events/s.

Runs on the local stack (``olist stack up``), in its own database and Kafka
namespace, which it drops afterwards. Figures:
- raw consume: a bare confluent-kafka consumer reading the same topic (no
  parsing, no sink): the ceiling the sink is measured against;
- exactly-once sink: ``olist stream consume`` (a real subprocess): the rows
  of every batch but the last, over the time from the first batch's start to
  the last batch's start (``stored_at`` is the transaction start, so the last
  batch's rows were written after the span ends and are not counted);
- latency: produce at 2,000 events/s while a consumer runs; per event
  ``stored_at - produced_at`` (stored_at is the row's insert time inside the
  batch transaction, a few ms before its commit).
- the peer (``connect_peer``): one Connect worker, Debezium JDBC sink in
  upsert and insert mode, same batch size as ours (``BENCH_STREAM_BATCH_SIZE``,
  1,000), its rate measured the same way from ``stored_at``;
- CPU per event: the process's utime+stime (``/proc/PID/stat``) between the
  first and the last poll that saw rows arrive, over the rows stored in
  between: CPU the other tenants of the machine cannot inflate the way they
  inflate wall time; ours also incl. start-up (``wait4``);
- kill -9: a known event set, each sink killed at the same five random
  progress points (distinct rows stored, read from the database), restarted,
  run to the end; lost = expected ids missing, duplicated = rows - distinct ids.
Targets on 2 cores: ours >= 1.0x the peer at the same batch size; p99 <= 100 ms
at 2,000/s. Everything is written to ``.local/bench/stream.json``.
``OLIST_BENCH_STREAM_PARTS`` (comma-separated ``throughput,kill,latency``, all by
default) runs only some parts, e.g. the latency figure alone in about 30 s.
"""

from __future__ import annotations

import dataclasses
import json
import os
import random
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import psycopg
from confluent_kafka import Consumer, TopicPartition
from psycopg import sql

from olist_pipeline.config import Role, Settings, load_settings
from olist_pipeline.db.migrate import migrate
from olist_pipeline.stack import jars
from olist_pipeline.stream.events import Event
from olist_pipeline.stream.producer import produce
from olist_pipeline.stream.source import load_events
from olist_pipeline.stream.topics import create_topics, stream_spec
from tests.bench import connect_peer
from tests.bench.connect_peer import PEER_TABLE, ConnectPeer

REALDATA = Path(__file__).resolve().parents[2].parent / "shared" / "realdata"
EVENTS = int(os.environ.get("BENCH_STREAM_EVENTS", "100000"))
LATENCY_RATE = 2000
LATENCY_SECONDS = int(os.environ.get("BENCH_STREAM_LATENCY_SECONDS", "15"))
KILL_EVENTS = int(os.environ.get("BENCH_STREAM_KILL_EVENTS", "30000"))
KILL_POINTS = 5
KILL_END_TIMEOUT = float(os.environ.get("BENCH_STREAM_KILL_END_TIMEOUT", "900"))
BATCH = connect_peer.BATCH_SIZE
# Which parts to run (comma-separated): throughput (ours, the peer, two members),
# kill (the kill -9 comparison), latency. All by default; e.g.
# OLIST_BENCH_STREAM_PARTS=latency for the latency figure alone.
PARTS = frozenset(
    p.strip()
    for p in os.environ.get("OLIST_BENCH_STREAM_PARTS", "throughput,kill,latency").split(",")
    if p.strip()
)
_KNOWN_PARTS = {"throughput", "kill", "latency"}
OURS_TABLE = "staging.order_events"


def _events(n: int, prefix: str = "") -> list[Event]:
    """``n`` order events: the real lifecycles, repeated under fresh order ids."""
    base = [e for e in load_events(REALDATA)[0] if e.stream == "orders"]
    out: list[Event] = []
    copy = 0
    while len(out) < n:
        # A distinct hex prefix per copy (and per caller prefix) keeps ids unique.
        head = prefix + f"{copy:03x}" if prefix else f"{copy:04x}"
        out += [
            dataclasses.replace(e, order_id=head + e.order_id[4:], event_id="")
            for e in base[: n - len(out)]
        ]
        copy += 1
    return out


def _consume_raw(settings: Settings, topic: str, n: int) -> float:
    c = Consumer(
        {
            "bootstrap.servers": settings.kafka.bootstrap_servers,
            "group.id": f"bench-raw-{uuid.uuid4().hex}",
            "enable.auto.commit": False,
            "fetch.wait.max.ms": 100,
        }
    )
    try:
        md = c.list_topics(topic, timeout=10)
        c.assign([TopicPartition(topic, p, 0) for p in md.topics[topic].partitions])
        got, first = 0, None
        while got < n:
            msgs = c.consume(5000, 1.0)
            if msgs and first is None:
                first = time.perf_counter()
            got += sum(1 for m in msgs if m.error() is None and m.value() is not None)
        assert first is not None
        return n / (time.perf_counter() - first)
    finally:
        c.close()


def _consumer(settings: Settings, log: Path, *args: str) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "OLIST_PG_DATABASE": settings.postgres.database,
        "OLIST_KAFKA_NAMESPACE": settings.kafka.namespace,
        "OLIST_LOG_LEVEL": "WARNING",
    }
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "olist_pipeline.cli",
            "stream",
            "consume",
            "--stream",
            "orders",
            *args,
        ],
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )


def _drop_topics(settings: Settings) -> None:
    from olist_pipeline.stream.topics import admin_client

    admin = admin_client(settings)
    ours = [
        t for t in admin.list_topics(timeout=10).topics if t.startswith(settings.kafka.namespace)
    ]
    if ours:
        for future in admin.delete_topics(ours).values():
            future.result(30)


def _sink_rate(settings: Settings, table: str = OURS_TABLE) -> tuple[int, float]:
    """All rows stored, and the sustained rate: rows written inside the span / span."""
    with psycopg.connect(settings.postgres.dsn(Role.ADMIN)) as conn:
        row = conn.execute(
            f"WITH b AS (SELECT min(stored_at) AS t0, max(stored_at) AS t1 FROM {table})"
            " SELECT count(*), count(*) FILTER (WHERE stored_at < b.t1),"
            " extract(epoch FROM b.t1 - b.t0)"
            f" FROM {table}, b GROUP BY b.t0, b.t1"
        ).fetchone()
    assert row is not None
    rows, inside, span = int(row[0]), int(row[1]), float(row[2])
    return rows, inside / span if span else float("nan")


def _pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


_TICK = os.sysconf("SC_CLK_TCK")


def _cpu_seconds(pid: int) -> float | None:
    """utime + stime of a live process (all its threads), None once it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()  # fields from the 3rd (state) on
    return (int(fields[11]) + int(fields[12])) / _TICK


def _counts(settings: Settings, table: str, topic: str | None = None) -> tuple[int, int]:
    """(rows, distinct event ids) in ``table`` (of ``topic`` only when given)."""
    where = "WHERE kafka_topic = %s" if topic else ""
    with psycopg.connect(settings.postgres.dsn(Role.ADMIN)) as conn:
        row = conn.execute(
            f"SELECT count(*), count(DISTINCT event_id) FROM {table} {where}",
            (topic,) if topic else None,
        ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


class _Ours:
    """``olist stream consume`` as a subprocess whose exit is reaped with wait4 (CPU time)."""

    def __init__(self, settings: Settings, log: Path, *args: str) -> None:
        self.settings, self.log, self.args = settings, log, args
        self.proc: subprocess.Popen[bytes] | None = None
        self.cpu_total: float | None = None
        self.returncode: int | None = None

    def start(self) -> None:
        self.proc = _consumer(self.settings, self.log, *self.args)
        self.cpu_total = self.returncode = None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def alive(self) -> bool:
        if self.proc is None or self.returncode is not None:
            return False
        pid, status, usage = os.wait4(self.proc.pid, os.WNOHANG)
        if pid == 0:
            return True
        self._reaped(status, usage)
        return False

    def _reaped(self, status: int, usage: object) -> None:
        assert self.proc is not None
        self.returncode = self.proc.returncode = os.waitstatus_to_exitcode(status)
        self.cpu_total = usage.ru_utime + usage.ru_stime  # type: ignore[attr-defined]

    def wait(self) -> int:
        if self.alive():
            _, status, usage = os.wait4(self.pid, 0)
            self._reaped(status, usage)
        assert self.returncode is not None
        return self.returncode

    def kill(self) -> None:
        if self.alive():
            os.kill(self.pid, 9)
            self.wait()

    def stop(self) -> None:
        if self.alive():
            self.proc.terminate()  # type: ignore[union-attr]
            self.wait()

    def log_tail(self) -> str:
        return self.log.read_text(errors="replace")[-2000:]


def _drain(
    settings: Settings, table: str, sink: _Ours | ConnectPeer, n: int, timeout: float = 900
) -> float:
    """Poll until ``table`` holds ``n`` distinct ids; CPU us per row while rows arrived.

    Each poll counts rows first, then reads the CPU clock, so the CPU side
    never lags the rows it is divided by.
    """
    samples: list[tuple[int, float]] = []
    deadline = time.monotonic() + timeout
    while True:
        total, distinct = _counts(settings, table)
        cpu = _cpu_seconds(sink.pid)
        if cpu is not None and total > 0:
            samples.append((total, cpu))
        if distinct >= n or not sink.alive():
            break
        if time.monotonic() > deadline:
            raise TimeoutError(f"{table}: {distinct} of {n} rows after {timeout}s")
        time.sleep(0.1)
    if len(samples) < 2 or samples[-1][0] == samples[0][0]:
        return float("nan")
    (r0, c0), (r1, c1) = samples[0], samples[-1]
    return (c1 - c0) / (r1 - r0) * 1e6


def _truncate(settings: Settings, table: str) -> None:
    with psycopg.connect(settings.postgres.dsn(Role.ADMIN), autocommit=True) as conn:
        conn.execute(f"TRUNCATE {table}")


def _ours_throughput(settings: Settings, logs: Path, n: int, batch: int) -> dict[str, float]:
    _truncate(settings, OURS_TABLE)
    ours = _Ours(
        settings,
        logs / f"ours-{batch}.log",
        "--group",
        f"batch{batch}",
        "--batch-size",
        str(batch),
        "--until-caught-up",
    )
    ours.start()
    cpu_us = _drain(settings, OURS_TABLE, ours, n)
    assert ours.wait() == 0, ours.log_tail()
    rows, rate = _sink_rate(settings)
    assert rows == n, (rows, n)
    assert ours.cpu_total is not None
    return {
        "events_per_s": rate,
        "cpu_us_per_event": cpu_us,
        "cpu_us_per_event_incl_startup": ours.cpu_total / n * 1e6,
    }


def _peer_throughput(
    settings: Settings, topic: str, logs: Path, n: int, mode: str
) -> dict[str, float]:
    connect_peer.create_table(settings, mode)
    peer = ConnectPeer(settings, topic, mode, f"bench-{mode}", logs / f"peer-{mode}")
    peer.start()
    try:
        try:
            cpu_us = _drain(settings, PEER_TABLE, peer, n)
        except TimeoutError as exc:
            raise TimeoutError(f"{exc}\n{peer.log_tail()}") from None
        total_cpu = _cpu_seconds(peer.pid)
        assert peer.alive(), peer.log_tail()
    finally:
        peer.stop()
    rows, rate = _sink_rate(settings, PEER_TABLE)
    assert rows == n, (rows, n, peer.log_tail())
    return {
        "events_per_s": rate,
        "cpu_us_per_event": cpu_us,
        "cpu_us_per_event_incl_startup": (total_cpu or float("nan")) / n * 1e6,
    }


def _kill_replay(  # noqa: PLR0917  # one replay: where, what, whom, against what, when
    settings: Settings,
    table: str,
    topic: str,
    sink: _Ours | ConnectPeer,
    expected: set[str],
    points: list[int],
) -> dict[str, object]:
    """kill -9 ``sink`` once ``table`` holds each of ``points`` distinct rows, restart it,
    let it finish; count lost and duplicated rows."""
    at_kill: list[int] = []
    sink.start()
    try:
        for point in points:
            deadline = time.monotonic() + 300
            while (distinct := _counts(settings, table, topic)[1]) < point:
                if not sink.alive():
                    raise RuntimeError(f"{table}: the sink died on its own\n{sink.log_tail()}")
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{table}: {point} rows not reached\n{sink.log_tail()}")
                time.sleep(0.02)
            sink.kill()
            at_kill.append(distinct)
            sink.start()
        # To the end: every id stored, or (rows lost for good) the time limit. A
        # "no new row for N s" rule would mistake a slow restart for the end.
        deadline = time.monotonic() + KILL_END_TIMEOUT
        while _counts(settings, table, topic)[1] < len(expected):
            if time.monotonic() > deadline or not sink.alive():
                break
            time.sleep(0.5)
        time.sleep(2)  # a replay still in flight shows up as duplicates too
    finally:
        sink.stop()
    with psycopg.connect(settings.postgres.dsn(Role.ADMIN)) as conn:
        ids = [
            str(r[0])
            for r in conn.execute(
                f"SELECT event_id FROM {table} WHERE kafka_topic = %s", (topic,)
            ).fetchall()
        ]
    distinct_ids = set(ids)
    return {
        "killed_at_rows": at_kill,
        "rows": len(ids),
        "lost": len(expected - distinct_ids),
        "duplicated": len(ids) - len(distinct_ids),
        "unexpected": len(distinct_ids - expected),
    }


def _failure_comparison(settings: Settings, logs: Path, seed: int) -> dict[str, object]:
    kill = settings.with_kafka_namespace(settings.kafka.namespace + "kill.")
    create_topics(kill)
    topic = stream_spec("orders").topic_name(kill)
    report = produce(kill, _events(KILL_EVENTS, prefix="e"), streams=("orders",))
    assert not report.undelivered, report.as_dict()
    expected = set(report.valid_ids["orders"])
    rng = random.Random(seed)
    # Two batches apart at least: each restarted sink writes before its next kill.
    grid = range(len(expected) // 20, len(expected) * 19 // 20, 2 * BATCH)
    points = sorted(rng.sample(grid, KILL_POINTS))
    out: dict[str, object] = {"events": len(expected), "seed": seed, "points": points}
    _truncate(settings, OURS_TABLE)
    ours = _Ours(
        kill,
        logs / "ours-kill.log",
        "--group",
        "kill",
        "--batch-size",
        str(BATCH),
        "--instance-id",
        "bench-kill",  # static membership: the restarted member takes the slot at once
        "--session-timeout-ms",
        "6000",
    )
    out["ours"] = _kill_replay(kill, OURS_TABLE, topic, ours, expected, points)
    for mode in ("insert", "upsert"):
        connect_peer.create_table(settings, mode)
        peer = ConnectPeer(settings, topic, mode, f"kill-{mode}", logs / f"peer-kill-{mode}")
        out[f"peer_{mode}"] = _kill_replay(settings, PEER_TABLE, topic, peer, expected, points)
    return out


def _wait_assigned(settings: Settings, group: str, timeout: float = 120) -> float:
    """Seconds until ``group`` is stable with partitions assigned (a fixed sleep is not
    enough on a busy machine: events produced before the join wait for it)."""
    from olist_pipeline.stream.topics import admin_client

    admin = admin_client(settings)
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        try:
            d = admin.describe_consumer_groups([group])[group].result(10)
            if "STABLE" in str(d.state) and any(m.assignment.topic_partitions for m in d.members):
                return time.monotonic() - t0
        except Exception:  # the group does not exist yet
            pass
        time.sleep(0.2)
    raise TimeoutError(f"consumer group {group} not assigned after {timeout}s")


def _latency(settings: Settings, logs: Path) -> tuple[list[tuple[float, float]], float]:
    """Produce at LATENCY_RATE once ours is assigned; per event (seconds since the first
    produce, stored_at - produced_at in ms), and how long the join took."""
    lat = settings.with_kafka_namespace(settings.kafka.namespace + "lat.")
    create_topics(lat)
    later = _events(LATENCY_RATE * LATENCY_SECONDS, prefix="f")
    proc = _consumer(lat, logs / "latency.log", "--batch-size", str(BATCH))
    lat_topic = stream_spec("orders").topic_name(lat)
    try:
        joined = _wait_assigned(lat, stream_spec("orders").group(lat))
        sent = produce(lat, later, rate=LATENCY_RATE, streams=("orders",))
        deadline = time.monotonic() + 120
        while (
            _counts(settings, OURS_TABLE, lat_topic)[0] < sent.streams["orders"].valid
            and time.monotonic() < deadline
        ):
            time.sleep(0.5)
    finally:
        proc.terminate()
        proc.wait(60)
    with psycopg.connect(settings.postgres.dsn(Role.ADMIN)) as conn:
        rows = conn.execute(
            "SELECT extract(epoch FROM produced_at - min(produced_at) OVER ()),"
            " extract(epoch FROM stored_at - produced_at) * 1000"
            " FROM staging.order_events WHERE kafka_topic = %s",
            (lat_topic,),
        ).fetchall()
    return [(float(a), float(b)) for a, b in rows], joined


def _print_kills(name: str, k: dict[str, object]) -> None:
    print(
        f"  {name:<24}: lost {k['lost']}, duplicated {k['duplicated']} "
        f"(killed at {k['killed_at_rows']} rows; {k['rows']:,} rows at the end)"
    )


def _throughput(settings: Settings, logs: Path, connect_jars: object) -> dict[str, object]:
    """Ours against the peer on one topic, next to the raw consume rate; two members."""
    result: dict[str, object] = {}
    create_topics(settings)
    topic = stream_spec("orders").topic_name(settings)
    events = _events(EVENTS)
    t0 = time.perf_counter()
    report = produce(settings, events, streams=("orders",))
    produce_rate = len(events) / (time.perf_counter() - t0)
    n = report.streams["orders"].valid
    raw = _consume_raw(settings, topic, n)
    result.update(events=n, producer_events_per_s=produce_rate, raw_consume_events_per_s=raw)

    ours = _ours_throughput(settings, logs, n, BATCH)
    peer_upsert = _peer_throughput(settings, topic, logs, n, "upsert")
    peer_insert = _peer_throughput(settings, topic, logs, n, "insert")
    ours_default = _ours_throughput(settings, logs, n, 5000)
    result.update(
        ours=ours,
        peer_upsert=peer_upsert,
        peer_insert=peer_insert,
        ours_batch_5000=ours_default,
        ours_over_peer_upsert=ours["events_per_s"] / peer_upsert["events_per_s"],
        ours_over_peer_insert=ours["events_per_s"] / peer_insert["events_per_s"],
    )

    # The same topic again, two group members (the consumer scales by partitions).
    _truncate(settings, OURS_TABLE)
    two = [
        _consumer(settings, logs / f"sink-{i}.log", "--group", "two", "--until-caught-up")
        for i in range(2)
    ]
    for p in two:
        assert p.wait(900) == 0
    rows2, sink2 = _sink_rate(settings)
    assert rows2 == n, (rows2, n)
    result["ours_two_members_events_per_s"] = sink2

    def line(name: str, r: dict[str, float]) -> str:
        return (
            f"{name:<28}: {r['events_per_s']:>8,.0f} events/s, "
            f"{r['cpu_us_per_event']:>5.0f} us CPU/event "
            f"({r['cpu_us_per_event_incl_startup']:.0f} incl. start-up)"
        )

    print(f"events                      : {n:,} order events ({os.cpu_count()} cores)")
    print(f"producer                    : {produce_rate:,.0f} events/s (idempotent, acks=all)")
    print(f"baseline raw consume        : {raw:,.0f} events/s (no parsing, no sink)")
    print(f"batch size (both sinks)     : {BATCH:,} (Connect jars: {connect_jars})")
    print(line("ours, exactly-once", ours))
    print(line("peer upsert (Debezium JDBC)", peer_upsert))
    print(line("peer insert (Debezium JDBC)", peer_insert))
    print(
        f"ours / peer                 : {result['ours_over_peer_upsert']:.2f}x upsert, "
        f"{result['ours_over_peer_insert']:.2f}x insert (target >= 1.0x)"
    )
    print(line("ours, batch 5,000", ours_default))
    print(f"ours, 2 members             : {sink2:,.0f} events/s sustained")
    return result


def _latency_part(settings: Settings, logs: Path) -> dict[str, object]:
    _truncate(settings, OURS_TABLE)
    timeline, joined = _latency(settings, logs)
    latencies = [ms for _, ms in timeline]
    p50, p99 = _pct(latencies, 0.5), _pct(latencies, 0.99)
    # Where the tail sits: the second of production with the worst p99.
    by_second: dict[int, list[float]] = {}
    for at, ms in timeline:
        by_second.setdefault(int(at), []).append(ms)
    worst = max(by_second, key=lambda sec: _pct(by_second[sec], 0.99))
    p99_by_second = {k: round(_pct(v, 0.99), 1) for k, v in sorted(by_second.items())}
    print(
        f"latency @ {LATENCY_RATE}/s x {len(latencies):,} (ours): p50 {p50:.0f} ms, "
        f"p99 {p99:.0f} ms, max {max(latencies):.0f} ms (target p99 <= 100); "
        f"worst second {worst}: p99 {_pct(by_second[worst], 0.99):.0f} ms; "
        f"group join took {joined:.1f}s before the clock started"
    )
    print(f"  p99 by second (ms)        : {list(p99_by_second.values())}")
    print(f"  load average (1/5/15 min) : {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return {
        "rate": LATENCY_RATE,
        "events": len(latencies),
        "p50": p50,
        "p99": p99,
        "max": max(latencies),
        "worst_second": worst,
        "worst_second_p99": _pct(by_second[worst], 0.99),
        "p99_by_second": p99_by_second,
        "group_join_seconds": joined,
        "load_average": os.getloadavg(),
    }


def main() -> None:
    unknown = PARTS - _KNOWN_PARTS
    if unknown or not PARTS:
        raise SystemExit(
            f"OLIST_BENCH_STREAM_PARTS={','.join(sorted(PARTS))}: each part must be one of "
            f"{', '.join(sorted(_KNOWN_PARTS))} (comma-separated); unset it to run them all"
        )
    base = load_settings()
    db = f"olist_bench_{uuid.uuid4().hex[:8]}"
    settings = base.with_database(db).with_kafka_namespace(f"bench{uuid.uuid4().hex[:8]}.")
    admin = base.postgres.dsn(Role.ADMIN, "postgres")
    seed = int(os.environ.get("BENCH_STREAM_SEED", str(random.SystemRandom().randrange(10**6))))
    needs_peer = bool(PARTS & {"throughput", "kill"})
    connect_jars = jars.ensure(settings, "connect") if needs_peer else None  # before any clock
    migrate(settings)
    logs = Path(tempfile.mkdtemp(prefix="bench-stream-"))
    result: dict[str, object] = {
        "cores": os.cpu_count(),
        "batch_size": BATCH,
        "seed": seed,
        "parts": sorted(PARTS),
    }
    try:
        if "throughput" in PARTS:
            result.update(_throughput(settings, logs, connect_jars))
        if "kill" in PARTS:
            kills = _failure_comparison(settings, logs, seed)
            result["kill_minus_nine"] = kills
            print(
                f"kill -9 at {KILL_POINTS} random points of {kills['events']:,} events "
                f"(seed {seed}):"
            )
            for name in ("ours", "peer_insert", "peer_upsert"):
                _print_kills(name, kills[name])  # type: ignore[arg-type]
        if "latency" in PARTS:
            result["latency_ms"] = _latency_part(settings, logs)
        out = settings.local.state_dir / "bench" / "stream.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=2) + "\n")
        print(f"written                     : {out}")
    finally:
        _drop_topics(settings)
        with psycopg.connect(admin, autocommit=True) as c:
            c.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(db)))


if __name__ == "__main__":
    main()
