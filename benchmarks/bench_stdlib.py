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
    python benchmarks/bench_stdlib.py --instructions [--quick]  # callgrind counts per stage
"""

from __future__ import annotations

import argparse
import json
import logging
import logging.handlers
import os
import platform
import queue
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
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


# -- instruction counts of each stage (``--instructions``) ------------------------------

_PROBE = """
import gc, logging, logging.handlers, queue, sys
sys.path.insert(0, {root!r})
from audit_logging.bus import Bus
from audit_logging.events import EVENT_ANY
from audit_logging.stdlib import AuditHandler
from audit_logging._records.logrecord import record_to_event
from audit_logging._security.sanitize import sanitize_payload
stage, n = {stage!r}, {n}
extra = {{"ip": "10.0.0.1", "plan": "pro", "attempt": 1}}
def lg(name, h):
    log = logging.getLogger(name)
    log.handlers[:] = [h]
    log.propagate = False
    log.setLevel(logging.INFO)
    return log
class Keep(logging.Handler):
    def emit(self, record):
        self.last = record
class Null(logging.Handler):
    def emit(self, record):
        pass
keep = Keep()
lg("keep", keep).info("user %s logged in", 1, extra=extra)
rec = keep.last
closers = []
def bus(cap):
    b = Bus(buffer_size=400_000, lifecycle_events=False, history_cap=cap)
    b.subscribe(EVENT_ANY, lambda e: None, name="noop")
    closers.append(b.close)
    return b
assert n <= 20_000  # the events are built alike in both runs: their cost cancels out
events_needed = stage.startswith("publish") or stage == "sanitize"
evts = [record_to_event(rec) for _ in range(22_000)] if events_needed else []
if stage == "logging":
    log = lg("n", Null())
    f = lambda i: log.info("user %s logged in", i, extra=extra)
elif stage == "record_to_event":
    f = lambda i: record_to_event(rec)
elif stage == "sanitize":
    f = lambda i: sanitize_payload(evts[i])
elif stage.startswith("publish"):
    b = bus(10_000 if stage == "publish" else 0)
    f = lambda i: b.publish(evts[i])
elif stage.startswith("audit"):
    log = lg("a", AuditHandler(bus(10_000 if stage == "audit" else 0)))
    f = lambda i: log.info("user %s logged in", i, extra=extra)
elif stage == "queuehandler":
    q = queue.Queue()
    listener = logging.handlers.QueueListener(q, logging.NullHandler())
    listener.start()
    closers.append(listener.stop)
    log = lg("p", logging.handlers.QueueHandler(q))
    f = lambda i: log.info("user %s logged in", i, extra=extra)
elif stage == "queuehandler_prepare":
    qh = logging.handlers.QueueHandler(queue.Queue())
    f = lambda i: qh.prepare(rec)
for i in range(2_000):
    f(i)
gc.collect()
gc.disable()  # the stages' own code; collections are the latency benchmark's subject
for i in range(2_000, 2_000 + n):
    f(i)
for close in closers:
    close()
"""
STAGES = {
    "logging": "Logger.info -> makeRecord -> a handler doing nothing",
    "record_to_event": "record_to_event(record)",
    "sanitize": "sanitize_payload(event) (inside publish)",
    "publish": "bus.publish(event), worker delivery included (history on)",
    "publish_history_off": "the same with history_cap=0",
    "audit": "logger.info -> AuditHandler -> bus -> no-op (the benchmarked path)",
    "audit_history_off": "the same with history_cap=0",
    "queuehandler": "logger.info -> QueueHandler -> QueueListener -> NullHandler (the peer)",
    "queuehandler_prepare": "QueueHandler.prepare(record) (inside the peer)",
}


def _count(stage: str, n: int, valgrind: str) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        done = subprocess.run(
            [
                valgrind,
                "--tool=callgrind",
                f"--callgrind-out-file={tmp}/out",
                sys.executable,
                "-c",
                _PROBE.format(root=str(Path(__file__).parent.parent), stage=stage, n=n),
            ],
            capture_output=True,
            text=True,
            timeout=1800,
            check=True,
            env={**os.environ, "PYTHONHASHSEED": "0"},  # hash seeds move the counts
        )
    found = re.search(r"Collected\s*:\s*(\d+)", done.stderr)
    if found is None:
        raise RuntimeError(f"callgrind said no instruction count:\n{done.stderr[-2000:]}")
    return int(found.group(1))


def instructions(n: int = 20_000) -> dict[str, float]:
    """
    CPU instructions per call of each stage: (run of n calls - run of 0) / n.

    Only the objects a stage needs are created: idle worker threads poll, and under
    valgrind's slow clock their polls would be counted as the stage's.
    """
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        raise RuntimeError("valgrind is not installed")
    return {
        stage: round((_count(stage, n, valgrind) - _count(stage, 0, valgrind)) / n, 1)
        for stage in STAGES
    }


def main() -> None:
    """
    Parse arguments, run, print and save the result.
    """
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a short smoke run")
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON)
    parser.add_argument(
        "--instructions", action="store_true", help="only count each stage with callgrind"
    )
    args = parser.parse_args()
    if args.instructions:
        counts = instructions(2_000 if args.quick else 20_000)
        for stage, count in counts.items():
            print(f"{stage:22} {count:10.1f} instructions/call  {STAGES[stage]}")
        args.json.with_name("results-stdlib-instructions.json").write_text(
            json.dumps(counts, indent=2) + "\n", encoding="utf-8"
        )
        return
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
