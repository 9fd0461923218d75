"""
AuditHandler against the stdlib's QueueHandler, caller cost, in one run.

Both paths log ``logger.info("user %s logged in", uid, extra={3 fields})``:

- audit: ``AuditHandler`` -> asynchronous bus (history, schema check and
  sanitization on, as by default) -> one no-op subscriber;
- peer: ``QueueHandler`` -> ``QueueListener`` -> ``NullHandler``.

Target (issue 5): audit <= 0.8x peer. A second run with the bus's history
off (``history_cap=0``) separates the handler's cost from the history's. Rounds
alternate audit / peer so machine
drift hits both alike; after each round both sides are drained so a backlog is
not billed to the next round. Medians per call are reported; the script does
not fail when the target is missed.

Usage::

    python benchmarks/bench_stdlib.py [--quick] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import logging
import logging.handlers
import platform
import queue
import statistics
import time
from pathlib import Path
from typing import Any

from audit_logging.bus import Bus
from audit_logging.events import EVENT_ANY
from audit_logging.stdlib import AuditHandler

DEFAULT_JSON = Path(__file__).with_name("results-stdlib.json")
TARGET = 0.8


def _logger(name: str, handler: logging.Handler) -> logging.Logger:
    log = logging.getLogger(name)
    log.handlers[:] = [handler]
    log.propagate = False
    log.setLevel(logging.INFO)
    return log


def _round(log: logging.Logger, n: int) -> float:
    info = log.info
    extra = {"ip": "10.0.0.1", "plan": "pro", "attempt": 1}
    start = time.perf_counter()
    for uid in range(n):
        info("user %s logged in", uid, extra=extra)
    return (time.perf_counter() - start) / n * 1e6


def run(rounds: int, per_round: int, history_cap: int = 10_000) -> dict[str, Any]:
    """
    Interleaved rounds; returns medians (µs per call) and the ratio.
    """
    bus = Bus(buffer_size=per_round * 2, lifecycle_events=False, history_cap=history_cap)
    bus.subscribe(EVENT_ANY, lambda evt: None, name="noop")
    audit_log = _logger("bench.stdlib.audit", AuditHandler(bus))
    q: queue.Queue[Any] = queue.Queue()
    listener = logging.handlers.QueueListener(q, logging.NullHandler())
    listener.start()
    peer_log = _logger("bench.stdlib.peer", logging.handlers.QueueHandler(q))
    audit: list[float] = []
    peer: list[float] = []
    try:
        _round(audit_log, per_round // 10)  # warm-up
        _round(peer_log, per_round // 10)
        bus.flush()
        for _ in range(rounds):
            audit.append(_round(audit_log, per_round))
            bus.flush()
            peer.append(_round(peer_log, per_round))
            while not q.empty():
                time.sleep(0.001)
        stats = bus.stats()
    finally:
        listener.stop()
        bus.close()
    a, p = statistics.median(audit), statistics.median(peer)
    return {
        "audit_us_median": round(a, 3),
        "queuehandler_us_median": round(p, 3),
        "ratio": round(a / p, 3),
        "target": TARGET,
        "history_cap": history_cap,
        "met": a / p <= TARGET,
        "audit_rounds_us": [round(x, 3) for x in audit],
        "queuehandler_rounds_us": [round(x, 3) for x in peer],
        "calls_per_round": per_round,
        "dropped_or_spilled": {"spilled": stats["spilled"], "dropped": stats["dropped"]},
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


PROFILES: dict[str, dict[str, Any]] = {
    "quick": {"rounds": 3, "per_round": 2_000},
    "full": {"rounds": 9, "per_round": 20_000},
}


def measure(rounds: int = 9, per_round: int = 20_000) -> dict[str, Any]:
    """
    The default bus, then the same with history off; returns both results.
    """
    return {
        "default_bus": run(rounds, per_round),
        # The same with the bus's history off: what the handler itself costs.
        "history_off": run(rounds, per_round, history_cap=0),
    }


def rows(result: dict[str, Any]) -> list[dict[str, Any]]:
    """
    The report rows (see ``benchmarks/report.py``) of one result.
    """
    out = []
    for key, label, target in (
        ("default_bus", "", {"on": "ratio", "op": "<=", "value": TARGET}),
        ("history_off", ", history off", None),
    ):
        r = result[key]
        out.append(
            {
                "metric": f"logger.info caller cost, AuditHandler -> bus{label}",
                "unit": "us/call",
                "ours": r["audit_us_median"],
                "peer": r["queuehandler_us_median"],
                "peer_name": "stdlib QueueHandler",
                "target": target,
                "issue": 5,
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
    results = measure(**PROFILES["quick" if args.quick else "full"])
    for label, result in results.items():
        print(
            f"{label}: AuditHandler {result['audit_us_median']:.2f} us/call, "
            f"QueueHandler {result['queuehandler_us_median']:.2f} us/call, "
            f"ratio {result['ratio']:.2f} (target <= {TARGET})"
        )
    args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
