"""
AuditHandler -> bus against loguru with ``enqueue=True``: caller cost and throughput, one run.

Both sides log the same record, a message with one argument and three structured fields:

- audit: ``logging.getLogger(...).info("user %s logged in", uid, extra={3 fields})`` ->
  ``AuditHandler`` -> asynchronous bus (history, schema check and sanitizing on, as by
  default) -> one no-op subscriber (the same path as ``bench_stdlib.py``, whose helpers
  this script reuses);
- peer: loguru's ``logger.info("user {} logged in", uid, **3 fields)`` with one handler,
  ``logger.add(no-op sink, enqueue=True)``, its default format. loguru formats the line
  in the caller, then pickles it through a ``multiprocessing.SimpleQueue`` to its writer
  thread; the caller blocks when that pipe is full.

1. Caller cost: interleaved rounds; after each round both sides are drained
   (``bus.flush()`` / ``logger.complete()``) so a backlog is not billed to the next round.
2. Throughput with 1 and 4 logging threads, the clock stopped once everything was
   handled (``bus.flush()`` / ``logger.complete()``).

Medians are reported. No issue sets a target against loguru: the rows are context.

Usage::

    python benchmarks/bench_loguru.py [--quick] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import statistics
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from loguru import logger as loguru_logger

from audit_logging.bus import Bus
from audit_logging.events import EVENT_ANY
from audit_logging.stdlib import AuditHandler

try:  # run as part of the package (python -m benchmarks)
    from benchmarks.bench_stdlib import _logger, _round
except ImportError:  # run as a script: benchmarks/ is sys.path[0]
    from bench_stdlib import _logger, _round  # type: ignore[no-redef]

DEFAULT_JSON = Path(__file__).with_name("results-loguru.json")
EXTRA = {"ip": "10.0.0.1", "plan": "pro", "attempt": 1}
PROFILES: dict[str, dict[str, Any]] = {
    "quick": {"rounds": 3, "per_round": 2_000, "throughput_events": 4_000, "throughput_rounds": 1},
    "full": {
        "rounds": 9,
        "per_round": 20_000,
        "throughput_events": 40_000,
        "throughput_rounds": 3,
    },
}


def _loguru_round(n: int) -> float:
    """
    µs per call over ``n`` loguru calls (the twin of ``bench_stdlib._round``).
    """
    info = loguru_logger.info
    extra = EXTRA
    start = time.perf_counter()
    for uid in range(n):
        info("user {} logged in", uid, **extra)
    return (time.perf_counter() - start) / n * 1e6


def _audit_side(buffer_size: int, name: str) -> tuple[Bus, logging.Logger]:
    bus = Bus(buffer_size=buffer_size, lifecycle_events=False)
    bus.subscribe(EVENT_ANY, lambda evt: None, name="noop")
    return bus, _logger(name, AuditHandler(bus))


def _loguru_side() -> int:
    """
    Remove every loguru handler (the default one writes to stderr), add the peer's.
    """
    loguru_logger.remove()
    return loguru_logger.add(lambda message: None, enqueue=True, level="INFO")


def caller_cost(rounds: int, per_round: int) -> dict[str, Any]:
    """
    Interleaved rounds; medians in µs per call and the ratio.
    """
    bus, audit_log = _audit_side(per_round * 2, "bench.loguru.audit")
    handler_id = _loguru_side()
    audit: list[float] = []
    peer: list[float] = []
    try:
        _round(audit_log, per_round // 10)  # warm-up
        _loguru_round(per_round // 10)
        bus.flush()
        loguru_logger.complete()
        for _ in range(rounds):
            audit.append(_round(audit_log, per_round))
            bus.flush()
            peer.append(_loguru_round(per_round))
            loguru_logger.complete()
        stats = bus.stats()
    finally:
        loguru_logger.remove(handler_id)
        bus.close()
        audit_log.handlers.clear()
    a, p = statistics.median(audit), statistics.median(peer)
    return {
        "audit_us_median": round(a, 3),
        "loguru_us_median": round(p, 3),
        "ratio": round(a / p, 3),
        "audit_rounds_us": [round(x, 3) for x in audit],
        "loguru_rounds_us": [round(x, 3) for x in peer],
        "calls_per_round": per_round,
        "dropped_or_spilled": {"spilled": stats["spilled"], "dropped": stats["dropped"]},
    }


def _timed_threads(threads: int, work: Callable[[], None], drain: Callable[[], object]) -> float:
    """
    Seconds from starting ``threads`` workers until they are done and ``drain()`` returned.
    """
    go = threading.Barrier(threads + 1)

    def run() -> None:
        go.wait()
        work()

    workers = [threading.Thread(target=run) for _ in range(threads)]
    for w in workers:
        w.start()
    go.wait()
    start = time.perf_counter()
    for w in workers:
        w.join()
    drain()
    return time.perf_counter() - start


def throughput(threads: int, total: int, rounds: int) -> dict[str, Any]:
    """
    Events/s until handled, ``threads`` logging threads, interleaved rounds.
    """
    per_thread = total // threads
    ours: list[float] = []
    theirs: list[float] = []
    for r in range(rounds):
        bus, audit_log = _audit_side(total + 10, f"bench.loguru.tp.{threads}.{r}")
        try:
            elapsed = _timed_threads(
                threads, lambda log=audit_log: _round(log, per_thread), bus.flush
            )
            ours.append(per_thread * threads / elapsed)
        finally:
            bus.close()
            audit_log.handlers.clear()
        handler_id = _loguru_side()
        try:
            elapsed = _timed_threads(
                threads, lambda: _loguru_round(per_thread), loguru_logger.complete
            )
            theirs.append(per_thread * threads / elapsed)
        finally:
            loguru_logger.remove(handler_id)
    a, b = statistics.median(ours), statistics.median(theirs)
    return {
        "audit_events_per_s": round(a),
        "loguru_events_per_s": round(b),
        "ratio": round(a / b, 3),
        "audit_runs": [round(x) for x in ours],
        "loguru_runs": [round(x) for x in theirs],
        "events": per_thread * threads,
    }


def measure(
    rounds: int = 9,
    per_round: int = 20_000,
    throughput_events: int = 40_000,
    throughput_rounds: int = 3,
) -> dict[str, Any]:
    """
    Caller cost, then throughput with 1 and 4 threads; returns one dict.
    """
    import loguru

    return {
        "caller_cost": caller_cost(rounds, per_round),
        "throughput_1_thread": throughput(1, throughput_events, throughput_rounds),
        "throughput_4_threads": throughput(4, throughput_events, throughput_rounds),
        "loguru": loguru.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def rows(result: dict[str, Any]) -> list[dict[str, Any]]:
    """
    The report rows (see ``benchmarks/report.py``) of one result.
    """
    peer = "loguru enqueue=True"
    c = result["caller_cost"]
    out: list[dict[str, Any]] = [
        {
            "metric": "logger.info caller cost, AuditHandler -> bus",
            "unit": "us/call",
            "ours": c["audit_us_median"],
            "peer": c["loguru_us_median"],
            "peer_name": peer,
            "target": None,
        }
    ]
    for key, label in (("throughput_1_thread", "1 thread"), ("throughput_4_threads", "4 threads")):
        t = result[key]
        out.append(
            {
                "metric": f"logger.info -> handled, AuditHandler -> bus, {label}",
                "unit": "events/s",
                "ours": t["audit_events_per_s"],
                "peer": t["loguru_events_per_s"],
                "peer_name": peer,
                "target": None,
            }
        )
    return out


def main() -> None:
    """
    Parse arguments, run, print and save the result.
    """
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a short smoke run")
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON)
    args = parser.parse_args()
    result = measure(**PROFILES["quick" if args.quick else "full"])
    c = result["caller_cost"]
    print(
        f"caller cost: AuditHandler {c['audit_us_median']:.2f} us/call, "
        f"loguru enqueue=True {c['loguru_us_median']:.2f} us/call, ratio {c['ratio']:.2f}"
    )
    for key in ("throughput_1_thread", "throughput_4_threads"):
        t = result[key]
        print(
            f"{key}: AuditHandler {t['audit_events_per_s']:,}/s, "
            f"loguru {t['loguru_events_per_s']:,}/s, ratio {t['ratio']:.2f}"
        )
    args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
