"""
The bus against the stdlib's cheapest asynchronous logging path, in one run.

Peer: ``logger.info(...)`` -> ``QueueHandler`` -> ``QueueListener`` -> ``NullHandler``.

1. Caller cost of ``bus.publish(evt)`` of a prebuilt event (async, one no-op
   subscriber, schema check, sanitization and history on) versus one
   ``logger.info`` call on the peer path. Target: <= 0.3x.
2. Sustained throughput, publish -> no-op handler, with 1 and 4 publishing
   threads, timed until every event was handled (``bus.flush()`` / the listener's
   queue drained). Target: >= 2x the peer.
3. Memory: 1M events through a bus with ``history_cap=10_000``: RSS growth under
   50 MB.

The backlog is sized so the caller-cost rounds never spill (``buffer_size`` is
larger than a round); that is what is being measured: the accept path. Rounds
alternate bus / peer so machine drift hits both alike; medians are reported.

Usage::

    python benchmarks/bench_bus.py [--quick] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import logging
import logging.handlers
import os
import platform
import queue
import statistics
import threading
import time
from pathlib import Path
from typing import Any

from audit_logging.bus import Bus
from audit_logging.events import EVENT_ANY
from audit_logging.factories import new_auth_login

DEFAULT_JSON = Path(__file__).with_name("results-bus.json")


class _Peer:
    """
    The stdlib path: a logger with a QueueHandler drained by a QueueListener.
    """

    def __init__(self) -> None:
        self.queue: queue.Queue[Any] = queue.Queue()
        self.logger = logging.getLogger(f"bench.peer.{id(self)}")
        self.logger.propagate = False
        self.logger.setLevel(logging.INFO)
        self.logger.addHandler(logging.handlers.QueueHandler(self.queue))
        self.listener = logging.handlers.QueueListener(self.queue, logging.NullHandler())
        self.listener.start()

    def drain(self) -> None:
        while not self.queue.empty():
            time.sleep(0.0005)

    def stop(self) -> None:
        self.listener.stop()


def _new_bus() -> Bus:
    bus = Bus(buffer_size=2_000_000, lifecycle_events=False)
    bus.subscribe(EVENT_ANY, lambda evt: None, name="noop")
    return bus


def caller_cost(rounds: int, per_round: int) -> dict[str, float]:
    bus = _new_bus()
    peer = _Peer()
    ours: list[float] = []
    theirs: list[float] = []
    publish = bus.publish
    info = peer.logger.info
    for _ in range(rounds):
        events = [new_auth_login("api", "u42") for _ in range(per_round)]
        start = time.perf_counter()
        for evt in events:
            publish(evt)
        ours.append((time.perf_counter() - start) / per_round)
        bus.flush()
        start = time.perf_counter()
        for _ in range(per_round):
            info("user %s logged in", "u42")
        theirs.append((time.perf_counter() - start) / per_round)
        peer.drain()
    bus.close()
    peer.stop()
    a, b = statistics.median(ours), statistics.median(theirs)
    return {"bus_publish_us": a * 1e6, "stdlib_info_us": b * 1e6, "ratio": a / b, "target": 0.3}


def _run_threads(threads: int, work: Any) -> float:
    start = time.perf_counter()
    workers = [threading.Thread(target=work) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return start


def throughput(threads: int, total: int, rounds: int) -> dict[str, float]:
    ours: list[float] = []
    theirs: list[float] = []
    per_thread = total // threads
    for _ in range(rounds):
        bus = _new_bus()
        events = [[new_auth_login("api", "u42") for _ in range(per_thread)] for _ in range(threads)]
        it = iter(events)
        lock = threading.Lock()

        def publish_all(bus: Bus = bus, it: Any = it, lock: Any = lock) -> None:
            with lock:
                mine = next(it)
            for evt in mine:
                bus.publish(evt)

        start = _run_threads(threads, publish_all)
        bus.flush()
        ours.append(per_thread * threads / (time.perf_counter() - start))
        bus.close()

        peer = _Peer()

        def log_all(peer: _Peer = peer) -> None:
            info = peer.logger.info
            for _ in range(per_thread):
                info("user %s logged in", "u42")

        start = _run_threads(threads, log_all)
        peer.drain()
        theirs.append(per_thread * threads / (time.perf_counter() - start))
        peer.stop()
    a, b = statistics.median(ours), statistics.median(theirs)
    return {"bus_events_per_s": a, "stdlib_events_per_s": b, "ratio": a / b, "target": 2.0}


def _rss_mb() -> float:
    with open(f"/proc/{os.getpid()}/statm") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 1e6


def memory(total: int) -> dict[str, float]:
    bus = Bus(history_cap=10_000, buffer_size=100_000, lifecycle_events=False)
    bus.subscribe(EVENT_ANY, lambda evt: None, name="noop")
    before = _rss_mb()
    for i in range(total):
        bus.publish_with_timeout(new_auth_login("api", f"u{i}"), 10)
    bus.flush()
    growth = _rss_mb() - before
    bus.close()
    return {"events": total, "rss_growth_mb": growth, "target_mb": 50.0}


PROFILES: dict[str, dict[str, Any]] = {
    "quick": {
        "memory_events": 100_000,
        "caller_rounds": 5,
        "caller_per_round": 5_000,
        "throughput_events": 20_000,
        "throughput_rounds": 3,
    },
    "full": {
        "memory_events": 1_000_000,
        "caller_rounds": 15,
        "caller_per_round": 20_000,
        "throughput_events": 100_000,
        "throughput_rounds": 5,
    },
}


def measure(
    memory_events: int = 1_000_000,
    caller_rounds: int = 15,
    caller_per_round: int = 20_000,
    throughput_events: int = 100_000,
    throughput_rounds: int = 5,
) -> dict[str, Any]:
    """
    Every measurement of this script, memory first; returns one dict.
    """
    # Memory first: later phases leave the allocator's arenas warm, hiding growth.
    mem = memory(memory_events)
    return {
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
        "caller_cost": caller_cost(caller_rounds, caller_per_round),
        "throughput_1_thread": throughput(1, throughput_events, throughput_rounds),
        "throughput_4_threads": throughput(4, throughput_events, throughput_rounds),
        "memory": mem,
    }


def rows(result: dict[str, Any]) -> list[dict[str, Any]]:
    """
    The report rows (see ``benchmarks/report.py``) of one result.
    """
    c, m = result["caller_cost"], result["memory"]
    out: list[dict[str, Any]] = [
        {
            "metric": "bus.publish caller cost vs logger.info",
            "unit": "us/call",
            "ours": c["bus_publish_us"],
            "peer": c["stdlib_info_us"],
            "peer_name": "stdlib QueueHandler",
            "target": {"on": "ratio", "op": "<=", "value": c["target"]},
            "issue": 3,
        }
    ]
    for key, label in (("throughput_1_thread", "1 thread"), ("throughput_4_threads", "4 threads")):
        t = result[key]
        out.append(
            {
                "metric": f"publish -> no-op throughput, {label}",
                "unit": "events/s",
                "ours": t["bus_events_per_s"],
                "peer": t["stdlib_events_per_s"],
                "peer_name": "stdlib QueueHandler",
                "target": {"on": "ratio", "op": ">=", "value": t["target"]},
                "issue": 3,
            }
        )
    out.append(
        {
            "metric": f"RSS growth, {m['events']:,} events, history_cap 10k",
            "unit": "MB",
            "ours": m["rss_growth_mb"],
            "target": {"on": "ours", "op": "<", "value": m["target_mb"]},
            "issue": 3,
        }
    )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON)
    args = parser.parse_args()
    result = measure(**PROFILES["quick" if args.quick else "full"])
    c = result["caller_cost"]
    print(
        f"publish caller cost   bus {c['bus_publish_us']:.2f} us"
        f"  stdlib {c['stdlib_info_us']:.2f} us  ratio {c['ratio']:.3f} (target <= 0.3)"
    )
    for key in ("throughput_1_thread", "throughput_4_threads"):
        t = result[key]
        print(
            f"{key:21} bus {t['bus_events_per_s']:,.0f}/s"
            f"  stdlib {t['stdlib_events_per_s']:,.0f}/s  ratio {t['ratio']:.2f} (target >= 2)"
        )
    m = result["memory"]
    print(
        f"memory                {m['events']:,} events:"
        f" RSS +{m['rss_growth_mb']:.1f} MB (target < 50)"
    )
    args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
