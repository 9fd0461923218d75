"""
Caller latency of ``logger.info`` -> ``AuditHandler`` -> bus while a file sink and a
PostgreSQL sink write, paced at 2 000 events/s (issue 19).

Every call is timed on its own (``perf_counter_ns``) and the distribution is reported:
p50, p99, p99.9 and the maximum. A mean would hide what an application meets: one call
in a thousand that waits. Two things can make a call wait, and both are recorded so the
tail can be named, not guessed:

- a cyclic-GC collection that ran inside the call (``gc.callbacks`` time-stamps every
  collection; a slow call overlapping one is billed to it, with its generation);
- the GIL: the bus's worker and the sinks' writer threads (JSON encoding, psycopg,
  gzip) hold it between the caller's calls, and a caller that wants it back waits up to
  the interpreter's switch interval (``sys.getswitchinterval()``, 5 ms by default).
  A slow call with no collection inside is counted as a GIL wait.

The run is repeated with a 0.5 ms switch interval (an application's own choice,
``sys.setswitchinterval``) as context: how much of the tail the GIL's hand-off is.

Targets: p99 <= 50 us, p99.9 <= 500 us, max <= 5 ms. No peer: these are absolute.
Without a reachable PostgreSQL server the rows are reported as skipped.

Usage::

    python benchmarks/bench_latency.py [--seconds 10] [--json PATH]
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import os
import platform
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from audit_logging.bus import Bus
from audit_logging.events import EVENT_ANY
from audit_logging.sinks.database import DatabaseHandler
from audit_logging.sinks.file import RotatingJSONFileHandler
from audit_logging.stdlib import AuditHandler

DEFAULT_JSON = Path(__file__).with_name("results-latency.json")
PG_URL = os.environ.get("AUDIT_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
RATE = 2_000
TARGETS_US = {"p99": 50.0, "p99.9": 500.0, "max": 5_000.0}
SLOW_US = 200.0
"""A call slower than this is attributed (GC or GIL) in the report."""


def _reachable(url: str) -> bool:
    try:
        engine = sa.create_engine(url, connect_args={"connect_timeout": 3})
        with engine.connect():
            pass
        engine.dispose()
        return True
    except Exception:  # any failure means "skip", reported as such
        return False


def _percentile(sorted_us: list[float], q: float) -> float:
    index = min(len(sorted_us) - 1, int(q * len(sorted_us)))
    return sorted_us[index]


class _GcClock:
    """Time-stamps of every collection while installed: (start_ns, end_ns, generation)."""

    def __init__(self) -> None:
        self.spans: list[tuple[int, int, int]] = []
        self._started = 0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter_ns()
        else:
            self.spans.append((self._started, time.perf_counter_ns(), info["generation"]))


def run(seconds: float, switch_interval: float | None, directory: str) -> dict[str, Any]:
    """One paced run; returns the distribution and what the slow calls overlapped."""
    table = f"bench_latency_{uuid.uuid4().hex[:8]}"
    previous_interval = sys.getswitchinterval()
    bus = Bus(lifecycle_events=False)
    file_sink = RotatingJSONFileHandler(os.path.join(directory, f"{table}.jsonl"))
    db_sink = DatabaseHandler(PG_URL, table=table, batch_size=500, flush_interval=0.2)
    bus.subscribe(EVENT_ANY, file_sink, name="file")
    bus.subscribe(EVENT_ANY, db_sink, name="postgresql")
    log = logging.getLogger(f"bench.latency.{table}")
    log.handlers[:] = [AuditHandler(bus)]
    log.propagate = False
    log.setLevel(logging.INFO)
    extra = {"ip": "10.0.0.1", "plan": "pro", "attempt": 1}
    clock = _GcClock()
    n = int(seconds * RATE)
    starts = [0] * n
    ends = [0] * n
    try:
        for uid in range(RATE // 2):  # warm-up: connect, create the table, fill caches
            log.info("user %s logged in", uid, extra=extra)
        bus.flush(30)
        if switch_interval is not None:
            sys.setswitchinterval(switch_interval)
        gc.callbacks.append(clock)
        now = time.perf_counter_ns
        info = log.info
        sleep = time.sleep
        period = 1e9 / RATE
        begin = now()
        for i in range(n):
            lag = (begin + i * period - now()) / 1e9
            if lag > 0:  # the caller idles between events, as a server's thread does
                sleep(lag)
            t0 = now()
            info("user %s logged in", i, extra=extra)
            t1 = now()
            starts[i] = t0
            ends[i] = t1
        elapsed = (now() - begin) / 1e9
        gc.callbacks.remove(clock)
        sys.setswitchinterval(previous_interval)
        assert bus.flush(60)
        stored = db_sink.stored_events
    finally:
        if clock in gc.callbacks:
            gc.callbacks.remove(clock)
        sys.setswitchinterval(previous_interval)
        bus.close()
        engine = sa.create_engine(PG_URL)
        with engine.begin() as conn:
            conn.exec_driver_sql(f"DROP TABLE IF EXISTS {table}")
        engine.dispose()
    durations = [(e - s) / 1000 for s, e in zip(starts, ends, strict=True)]
    slow_gc: dict[str, int] = {}
    slow_gil = 0
    slow = [i for i, d in enumerate(durations) if d > SLOW_US]
    for i in slow:
        overlapping = [g for s, e, g in clock.spans if s < ends[i] and e > starts[i]]
        if overlapping:
            key = f"gen{max(overlapping)}"
            slow_gc[key] = slow_gc.get(key, 0) + 1
        else:
            slow_gil += 1
    ordered = sorted(durations)
    return {
        "events": n,
        "achieved_rate": round(n / elapsed),
        "stored_in_postgresql": stored,
        "switch_interval_s": switch_interval or previous_interval,
        "p50_us": round(_percentile(ordered, 0.50), 1),
        "p99_us": round(_percentile(ordered, 0.99), 1),
        "p99.9_us": round(_percentile(ordered, 0.999), 1),
        "max_us": round(ordered[-1], 1),
        "slow_threshold_us": SLOW_US,
        "slow_calls": len(slow),
        "slow_calls_in_gc": slow_gc,
        "slow_calls_waiting_for_the_gil": slow_gil,
        "gc_collections": len(clock.spans),
        "longest_gc_us": round(max(((e - s) / 1000 for s, e, _ in clock.spans), default=0.0), 1),
    }


PROFILES: dict[str, dict[str, Any]] = {
    "quick": {"seconds": 2.0},
    "full": {"seconds": 10.0},
}


def measure(seconds: float = 10.0) -> dict[str, Any]:
    """The default switch interval, then 0.5 ms; skipped without PostgreSQL."""
    if not _reachable(PG_URL):
        return {"skipped": f"PostgreSQL not reachable at {PG_URL}"}
    with tempfile.TemporaryDirectory() as directory:
        return {
            "default": run(seconds, None, directory),
            "switch_0.5ms": run(seconds, 0.0005, directory),
            "python": platform.python_version(),
            "platform": platform.platform(),
        }


def rows(result: dict[str, Any]) -> list[dict[str, Any]]:
    """The report rows (see ``benchmarks/report.py``) of one result."""
    out: list[dict[str, Any]] = []
    for key, label, targeted in (
        ("default", "", True),
        ("switch_0.5ms", ", switch interval 0.5 ms", False),
    ):
        r = result.get(key, {})
        for stat in ("p99", "p99.9", "max"):
            out.append(
                {
                    "metric": f"logger.info caller latency {stat}, file + PostgreSQL sinks, "
                    f"2000 events/s{label}",
                    "unit": "us",
                    "ours": r.get(f"{stat}_us"),
                    "peer": None,
                    "peer_name": "-",
                    "target": {"on": "ours", "op": "<=", "value": TARGETS_US[stat]}
                    if targeted
                    else None,
                    "issue": 19,
                    "note": result.get("skipped"),
                }
            )
    return out


def main(argv: list[str] | None = None) -> int:
    """Run, print the distributions, write the JSON result."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON)
    args = parser.parse_args(argv)
    result = measure(args.seconds)
    print(json.dumps(result, indent=2))
    args.json.write_text(json.dumps(result, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
