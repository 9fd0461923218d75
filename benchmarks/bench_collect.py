"""
Benchmark: the Kafka collector (``audit_logging.collector.Collector`` into a
``DatabaseHandler``) against a bare consumer loop writing the same rows into the same
database, in the same run.

Both read the same topic (librdkafka's mock cluster in a child process, 4 partitions,
records written by the Kafka sink) with confluent-kafka in a fresh consumer group, 500
records per batch, and commit each batch's offsets synchronously after the database
committed it. The bare loop is what one would write by hand: ``orjson.loads`` the value,
build the row, one idempotent ``INSERT ... ON CONFLICT DO NOTHING`` executemany per batch
(a collector must be idempotent: it reads records again after a rebalance), commit. The
collector also rebuilds each event (``Event.from_dict``), checks the sink stored the
batch and keeps its counters. The clock starts after the first batch (the group join
takes the mock broker about 3 s, the same for both) and stops when the last row is in.

Target (issue 18): the collector >= 0.8x the bare loop's events/s.

Usage: ``python benchmarks/bench_collect.py [--events 20000] [--repeats 3]``
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import orjson
import sqlalchemy as sa

from audit_logging.collector import Collector
from audit_logging.events import new_event
from audit_logging.sinks.database import DatabaseHandler, audit_table, setup_database
from audit_logging.sinks.kafka import KafkaHandler
from benchmarks.bench_kafka import mock_broker

RESULTS = Path(__file__).with_name("results-collect.json")
PG_URL = os.environ.get("AUDIT_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
BATCH = 500
TARGET = 0.8
PROFILES: dict[str, dict[str, Any]] = {
    "quick": {"events": 5_000, "repeats": 1, "databases": ("sqlite",)},
    "full": {"events": 20_000, "repeats": 3, "databases": ("sqlite", "postgresql")},
}


def _produce(servers: str, n: int) -> str:
    topic = f"bench-collect-{uuid.uuid4().hex[:8]}"
    handler = KafkaHandler(servers, topic, backend="confluent", async_send=True)
    for i in range(n):
        handler.write_event(
            new_event(
                "user_updated",
                "accounts-service",
                {"user_id": f"u-{i}", "changes": {"email": f"user{i}@example.com"}},
                context_id=f"req-{i // 10}",
            )
        )
    handler.flush()
    handler.close()
    return topic


def _table(engine: sa.Engine) -> str:
    name = f"bench_{uuid.uuid4().hex[:10]}"
    setup_database(engine, name)
    return name


def _count(engine: sa.Engine, table: str) -> int:
    with engine.connect() as conn:
        return int(conn.exec_driver_sql(f"SELECT count(*) FROM {table}").scalar_one())


def ours(servers: str, topic: str, engine: sa.Engine, n: int) -> float:
    """Events/s of the collector after its first batch."""
    table = _table(engine)
    sink = DatabaseHandler(engine, table=table, batch_size=BATCH, flush_interval=3600.0)
    c = Collector(servers, topic, uuid.uuid4().hex, sink, batch_size=BATCH, poll_timeout=0.5)
    try:
        while c.stats.stored == 0:
            c.step()
        start, first = time.perf_counter(), c.stats.stored
        while c.stats.stored < n:
            c.step()
        elapsed = time.perf_counter() - start
    finally:
        c.close()
        sink.close()
    assert _count(engine, table) == n
    return (n - first) / elapsed


def _row(doc: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": doc["id"],
        "type": doc["type"],
        "time": _dt.datetime.fromisoformat(doc["time"]),
        "source": doc.get("source", ""),
        "context_id": doc.get("context_id") or None,
        "trace_id": doc.get("trace_id") or None,
        "span_id": doc.get("span_id") or None,
        "payload": orjson.dumps(doc.get("payload")).decode(),
    }


def bare(servers: str, topic: str, engine: sa.Engine, n: int) -> float:
    """Events/s of a hand-written consume -> executemany -> commit loop after its first batch."""
    from confluent_kafka import Consumer

    table_name = _table(engine)
    table = audit_table(sa.MetaData(), table_name)
    if engine.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    statement = insert(table).on_conflict_do_nothing()
    consumer = Consumer(
        {
            "bootstrap.servers": servers,
            "group.id": uuid.uuid4().hex,
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "log_level": 0,
        }
    )
    consumer.subscribe([topic])
    done = 0
    start = first = None
    try:
        while done < n:
            batch = [m for m in consumer.consume(BATCH, 0.5) if m.error() is None]
            if not batch:
                continue
            rows = [_row(orjson.loads(m.value())) for m in batch]
            with engine.begin() as conn:
                conn.execute(statement, rows)
            consumer.commit(asynchronous=False)
            done += len(batch)
            if start is None:
                start, first = time.perf_counter(), done
        elapsed = time.perf_counter() - (start or 0.0)
    finally:
        consumer.close()
    assert _count(engine, table_name) == n
    return (n - (first or 0)) / elapsed


def _engines(databases: tuple[str, ...], tmp: str) -> dict[str, sa.Engine]:
    engines = {}
    for name in databases:
        if name == "sqlite":
            engine = sa.create_engine(f"sqlite:///{Path(tmp) / 'bench.db'}")
            with engine.connect() as conn:
                conn.exec_driver_sql("PRAGMA journal_mode=WAL")
            engines[name] = engine
        else:
            engine = sa.create_engine(PG_URL)
            try:
                engine.connect().close()
            except Exception:  # an unreachable server skips its rows
                continue
            engines[name] = engine
    return engines


def measure(
    events: int = 20_000, repeats: int = 3, databases: tuple[str, ...] = ("sqlite",)
) -> dict[str, Any]:
    """
    Start the mock broker, run both loops on each database (interleaved), return medians.
    """
    results: dict[str, Any] = {}
    with mock_broker() as servers, tempfile.TemporaryDirectory() as tmp:
        topic = _produce(servers, events)
        for name, engine in _engines(tuple(databases), tmp).items():
            ours_s, bare_s = [], []
            for _ in range(repeats):  # interleaved: the same machine state for both
                bare_s.append(bare(servers, topic, engine, events))
                ours_s.append(ours(servers, topic, engine, events))
            engine.dispose()
            results[name] = {
                "ours_eps": statistics.median(ours_s),
                "bare_eps": statistics.median(bare_s),
                "ratio": statistics.median(ours_s) / statistics.median(bare_s),
                "samples": {"ours": ours_s, "bare": bare_s},
            }
    return {
        "databases": results,
        "events": events,
        "batch": BATCH,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
    }


def rows(result: dict[str, Any]) -> list[dict[str, Any]]:
    """
    The report rows (see ``benchmarks/report.py``) of one result.
    """
    labels = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}
    return [
        {
            "metric": f"collector -> {labels[name]}, consumed -> row committed -> offset committed",
            "unit": "events/s",
            "ours": r["ours_eps"],
            "peer": r["bare_eps"],
            "peer_name": "bare confluent consume -> executemany -> commit loop",
            "target": {"on": "ratio", "op": ">=", "value": TARGET},
            "issue": 18,
        }
        for name, r in result["databases"].items()
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    result = measure(args.events, args.repeats, ("sqlite", "postgresql"))
    RESULTS.write_text(json.dumps(result, indent=2, default=str))
    for name, r in result["databases"].items():
        print(
            f"{name:12s} collector {r['ours_eps']:10,.0f}/s  bare {r['bare_eps']:10,.0f}/s  "
            f"ratio {r['ratio']:.2f} (target >= {TARGET})"
        )


if __name__ == "__main__":
    main()
