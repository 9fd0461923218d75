"""
Sustained insert throughput of DatabaseHandler against bare SQLAlchemy and psycopg COPY.

For each backend the same pre-built events go, in batches of 1000 with one commit
per batch, into a fresh audit table (the real schema: primary key plus two
indexes) by:

- ``handler``: ``DatabaseHandler.write_event`` for every event, then ``flush()``
  (the flusher thread writes while the producer is still writing);
- ``executemany``: a bare SQLAlchemy Core ``conn.execute(table.insert(), rows)``,
  the rows built from the events inside the timed loop (same work as the handler);
- ``executemany_prebuilt``: the same with the rows built before the clock starts
  (the strictest baseline);
- ``copy`` (PostgreSQL only): psycopg ``COPY ... FROM STDIN`` with a commit per
  1000 rows and no idempotency, the ceiling.

Runs are interleaved (one of each method per round) so that noise from other
processes hits every method alike; medians and ratios are printed and written to
``benchmarks/results-database.json``, with the client CPU per row (process time,
all threads), which is far less sensitive to a busy machine than the wall clock
when the database server shares the CPUs. Servers that are not reachable are skipped.

Usage: ``python benchmarks/bench_database.py [--events N] [--rounds R]``
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import sqlalchemy as sa

from audit_logging.events import Event, new_event
from audit_logging.sinks.database import DatabaseHandler, audit_table, setup_database

PG_URL = os.environ.get("AUDIT_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
MARIADB_URL = os.environ.get(
    "AUDIT_TEST_MARIADB_URL", "mysql+pymysql://root@127.0.0.1:3306/test?charset=utf8mb4"
)
BATCH = 1000
TABLE = "bench_audit"
RESULTS = Path(__file__).with_name("results-database.json")


def make_events(n: int) -> list[Event[Any]]:
    """Events shaped like real audit traffic (a small dict payload, a context id)."""
    return [
        new_event(
            "user_updated",
            "accounts-service",
            {"user_id": f"u-{i}", "changes": {"email": f"user{i}@example.com", "plan": "pro"}},
            context_id=f"req-{i // 10}",
        )
        for i in range(n)
    ]


def to_row(evt: Event[Any]) -> dict[str, Any]:
    """The row a hand-written SQLAlchemy writer would build."""
    return {
        "id": evt.id,
        "type": evt.type,
        "time": evt.time,
        "source": evt.source,
        "context_id": evt.context_id,
        "trace_id": evt.trace_id or None,
        "span_id": evt.span_id or None,
        "payload": orjson.dumps(evt.payload).decode(),
    }


def reset(engine: sa.Engine) -> None:
    """Drop and recreate the benchmark table."""
    sa.Table(TABLE, sa.MetaData()).drop(engine, checkfirst=True)
    setup_database(engine, TABLE)


def count(engine: sa.Engine) -> int:
    """Rows in the benchmark table."""
    with engine.connect() as conn:
        return int(conn.exec_driver_sql(f"SELECT count(*) FROM {TABLE}").scalar_one())


def run_handler(url: str, engine: sa.Engine, evts: list[Event[Any]]) -> float:
    """Elapsed seconds for write_event x N + flush through DatabaseHandler."""
    handler = DatabaseHandler(
        url, table=TABLE, batch_size=BATCH, flush_interval=3600.0, create_table=False
    )
    handler._writer.ensure_ready()  # connect before timing, as the baselines' engines have
    try:
        start = time.perf_counter()
        for evt in evts:
            handler.write_event(evt)
        handler.flush()
        elapsed = time.perf_counter() - start
    finally:
        handler.close()
    assert handler.stored_events == len(evts), handler.stored_events
    return elapsed


def run_executemany(_url: str, engine: sa.Engine, evts: list[Event[Any]]) -> float:
    """Elapsed seconds for Core executemany, rows built inside the loop."""
    table = audit_table(sa.MetaData(), TABLE)
    start = time.perf_counter()
    for i in range(0, len(evts), BATCH):
        rows = [to_row(e) for e in evts[i : i + BATCH]]
        with engine.begin() as conn:
            conn.execute(table.insert(), rows)
    return time.perf_counter() - start


def run_executemany_prebuilt(_url: str, engine: sa.Engine, evts: list[Event[Any]]) -> float:
    """Elapsed seconds for Core executemany with the rows built beforehand."""
    table = audit_table(sa.MetaData(), TABLE)
    batches = [[to_row(e) for e in evts[i : i + BATCH]] for i in range(0, len(evts), BATCH)]
    start = time.perf_counter()
    for rows in batches:
        with engine.begin() as conn:
            conn.execute(table.insert(), rows)
    return time.perf_counter() - start


def run_copy(_url: str, engine: sa.Engine, evts: list[Event[Any]]) -> float:
    """Elapsed seconds for psycopg COPY (text format), a commit per 1000 rows."""
    statement = (
        f"COPY {TABLE} (id, type, time, source, context_id, trace_id, span_id, payload) FROM STDIN"
    )
    start = time.perf_counter()
    for i in range(0, len(evts), BATCH):
        with engine.begin() as conn:
            raw = conn.connection.dbapi_connection
            assert raw is not None
            with raw.cursor() as cursor, cursor.copy(statement) as copy:
                for e in evts[i : i + BATCH]:
                    copy.write_row(
                        (
                            e.id,
                            e.type,
                            e.time,
                            e.source,
                            e.context_id,
                            e.trace_id or None,
                            e.span_id or None,
                            orjson.dumps(e.payload).decode(),
                        )
                    )
    return time.perf_counter() - start


Method = Callable[[str, sa.Engine, list[Event[Any]]], float]


def bench(
    name: str, url: str, methods: dict[str, Method], n: int, rounds: int
) -> dict[str, Any] | None:
    """Interleaved rounds of every method on one backend; medians in rows/s."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
    except Exception as exc:
        print(f"{name}: skipped ({type(exc).__name__})")
        return None
    server_version = ".".join(str(x) for x in engine.dialect.server_version_info or ())
    rates: dict[str, list[float]] = {m: [] for m in methods}
    cpu: dict[str, list[float]] = {m: [] for m in methods}
    try:
        for _ in range(rounds):
            for method, run in methods.items():
                evts = make_events(n)
                reset(engine)
                gc.collect()
                cpu_start = time.process_time()
                elapsed = run(url, engine, evts)
                cpu[method].append((time.process_time() - cpu_start) / n * 1e6)
                assert count(engine) == n, (method, count(engine))
                rates[method].append(n / elapsed)
    finally:
        sa.Table(TABLE, sa.MetaData()).drop(engine, checkfirst=True)
        engine.dispose()
    medians = {m: statistics.median(r) for m, r in rates.items()}
    cpu_medians = {m: statistics.median(c) for m, c in cpu.items()}
    result: dict[str, Any] = {
        "server_version": server_version,
        "events": n,
        "batch_size": BATCH,
        "rounds": rounds,
        "median_rows_per_s": {m: round(v) for m, v in medians.items()},
        "all_rows_per_s": {m: [round(v) for v in r] for m, r in rates.items()},
        "median_client_cpu_us_per_row": {m: round(v, 1) for m, v in cpu_medians.items()},
        "ratio_handler_vs_executemany": round(medians["handler"] / medians["executemany"], 2),
        "ratio_handler_vs_executemany_prebuilt": round(
            medians["handler"] / medians["executemany_prebuilt"], 2
        ),
    }
    if "copy" in medians:
        result["ratio_handler_vs_copy"] = round(medians["handler"] / medians["copy"], 2)
    print(f"\n{name} ({n} events, batch {BATCH}, {rounds} rounds, medians):")
    for method, value in medians.items():
        print(f"  {method:22s} {value:10,.0f} rows/s  {cpu_medians[method]:6.1f} us client CPU/row")
    for key, value in result.items():
        if key.startswith("ratio"):
            print(f"  {key:38s} {value:.2f}x")
    return result


TARGETS = {"postgresql": 1.5, "sqlite": 1.0, "mariadb": 1.0}
PROFILES: dict[str, dict[str, Any]] = {
    "quick": {"events": 2_000, "rounds": 1},
    "full": {"events": 20_000, "rounds": 5},
}


def measure(events: int = 20_000, rounds: int = 5, only: list[str] | None = None) -> dict[str, Any]:
    """
    Every reachable backend in turn (``only`` limits them); returns one dict.
    """
    common: dict[str, Method] = {
        "handler": run_handler,
        "executemany": run_executemany,
        "executemany_prebuilt": run_executemany_prebuilt,
    }
    results: dict[str, Any] = {
        "python": sys.version.split()[0],
        "sqlalchemy": sa.__version__,
        "machine": f"{platform.machine()} x{os.cpu_count()}",
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "skipped": [],
    }
    with tempfile.TemporaryDirectory() as tmp:
        sqlite_url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        engine = sa.create_engine(sqlite_url)
        with engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA journal_mode=WAL")
        engine.dispose()
        plan = [
            ("postgresql", PG_URL, {**common, "copy": run_copy}),
            ("sqlite", sqlite_url, common),
            ("mariadb", MARIADB_URL, common),
        ]
        for name, url, methods in plan:
            if only and name not in only:
                continue
            outcome = bench(name, url, methods, events, rounds)
            if outcome is None:
                results["skipped"].append(name)
            else:
                results[name] = outcome
    results["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    return results


def rows(result: dict[str, Any]) -> list[dict[str, Any]]:
    """
    The report rows (see ``benchmarks/report.py``) of one result.

    The targets of issue 4 are against the bare ``executemany`` (rows built in the
    timed loop, like the handler does); the prebuilt variant and, on PostgreSQL,
    ``COPY`` (no idempotency: the ceiling, faster than our sink) are context.
    """
    labels = {"postgresql": "PostgreSQL", "sqlite": "SQLite", "mariadb": "MariaDB"}
    out: list[dict[str, Any]] = []
    for name, label in labels.items():
        if name not in result and name not in result.get("skipped", []):
            continue  # not selected
        medians = result.get(name, {}).get("median_rows_per_s", {})
        ours = medians.get("handler")
        peers = [
            ("executemany", "bare SQLAlchemy executemany", TARGETS[name]),
            ("executemany_prebuilt", "executemany, rows prebuilt", None),
        ]
        if name == "postgresql":
            peers.append(("copy", "psycopg COPY (no idempotency)", None))
        for method, peer_name, target in peers:
            out.append(
                {
                    "metric": f"{label} insert, batch {BATCH}",
                    "unit": "rows/s",
                    "ours": ours,
                    "peer": medians.get(method),
                    "peer_name": peer_name,
                    "target": None
                    if target is None
                    else {"on": "ratio", "op": ">=", "value": target},
                    "issue": 4,
                    "note": "server not reachable" if ours is None else None,
                }
            )
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--only", choices=["postgresql", "sqlite", "mariadb"], action="append")
    args = parser.parse_args(argv)
    results = measure(args.events, args.rounds, args.only)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nwritten to {RESULTS}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
