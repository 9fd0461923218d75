"""
Benchmark: RotatingJSONFileHandler against stdlib QueueHandler -> ConcurrentRotatingFileHandler
+ python-json-logger, in the same run.

Throughput is "events on disk per second": the clock stops after ``flush()``
(ours) or ``QueueListener.stop()`` (the peer, which drains its queue). The peer's
enqueue-only rate (publishing threads done, records still queued) is reported too:
it is what an application thread sees, and the harder comparison for us. Each
publishing thread builds its events in the timed loop (``new_event`` for us,
the ``LogRecord`` built by ``logger.info`` for the peer). Ours is measured three
ways: ``bus.publish`` into an asynchronous bus whose only subscriber is the sink
(the path issue 4's target names), ``write_event`` on the sink directly, and
``write_event`` alone on prebuilt events.

The gzip stall compares the longest single call during a rollover of a
``--stall-mib`` file: CLH gzips inside ``emit`` under its lock; ours renames
under the lock and compresses in a background thread.

Usage: ``python benchmarks/bench_file.py [--events 40000] [--repeats 5] [--stall-mib 16]``
"""

from __future__ import annotations

import argparse
import json
import logging
import logging.handlers
import os
import platform
import queue
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from concurrent_log_handler import ConcurrentRotatingFileHandler
from pythonjsonlogger.json import JsonFormatter

from audit_logging.bus import Bus
from audit_logging.events import EVENT_ANY, Event, new_event
from audit_logging.sinks.file import RotatingJSONFileHandler

RESULTS = Path(__file__).with_name("results-file.json")
MAX_BYTES = 100 * 1024 * 1024


def _payload(i: int) -> dict[str, Any]:
    return {"user": "alice", "ip": "10.0.0.1", "action": "login", "n": i}


def _run_threads(threads: int, per_thread: int, body: Callable[[int, int], None]) -> None:
    start = threading.Barrier(threads + 1)

    def run(t: int) -> None:
        start.wait()
        body(t, per_thread)

    workers = [threading.Thread(target=run, args=(t,)) for t in range(threads)]
    for w in workers:
        w.start()
    start.wait()
    for w in workers:
        w.join()


def _count_lines(directory: str) -> int:
    total = 0
    for name in os.listdir(directory):
        if name.startswith("audit"):
            with open(os.path.join(directory, name), "rb") as fh:
                total += fh.read().count(b"\n")
    return total


def bench_ours(directory: str, threads: int, events: int, prebuilt: bool) -> float:
    """
    Events/s from ``threads`` threads into ``write_event`` until ``flush()`` returns.
    """
    handler = RotatingJSONFileHandler(os.path.join(directory, "audit.jsonl"), max_bytes=MAX_BYTES)
    per_thread = events // threads
    built: list[list[Event[Any]]] = []
    if prebuilt:
        built = [
            [new_event("user_login", "bench", _payload(i)) for i in range(per_thread)]
            for _ in range(threads)
        ]

    def body(t: int, n: int) -> None:
        write = handler.write_event
        if prebuilt:
            for evt in built[t]:
                write(evt)
        else:
            for i in range(n):
                write(new_event("user_login", "bench", _payload(i)))

    t0 = time.perf_counter()
    _run_threads(threads, per_thread, body)
    handler.flush()
    elapsed = time.perf_counter() - t0
    handler.close()
    assert _count_lines(directory) == per_thread * threads
    return per_thread * threads / elapsed


def bench_ours_bus(directory: str, threads: int, events: int) -> float:
    """
    Events/s from ``threads`` threads through ``bus.publish`` into the sink until ``flush()``.

    The path issue 4 names: an asynchronous bus (defaults: history, schema check and
    sanitizing on) with the file sink as its only subscriber; the backlog is sized so
    nothing spills.
    """
    handler = RotatingJSONFileHandler(os.path.join(directory, "audit.jsonl"), max_bytes=MAX_BYTES)
    bus = Bus(buffer_size=events + 10, lifecycle_events=False)
    bus.subscribe(EVENT_ANY, handler, name="file")
    per_thread = events // threads

    def body(t: int, n: int) -> None:
        publish = bus.publish
        for i in range(n):
            publish(new_event("user_login", "bench", _payload(i)))

    t0 = time.perf_counter()
    _run_threads(threads, per_thread, body)
    assert bus.flush(300)
    elapsed = time.perf_counter() - t0
    bus.close()
    handler.close()
    assert _count_lines(directory) == per_thread * threads
    return per_thread * threads / elapsed


def bench_peer(directory: str, threads: int, events: int) -> tuple[float, float]:
    """
    Events/s through QueueHandler -> QueueListener -> CLH + JsonFormatter.

    Returns:
        (drained: all records on disk, enqueued: publishing threads done).
    """
    clh = ConcurrentRotatingFileHandler(
        os.path.join(directory, "audit.log"), maxBytes=MAX_BYTES, backupCount=5, use_gzip=True
    )
    clh.setFormatter(JsonFormatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    q: queue.Queue[logging.LogRecord] = queue.Queue(-1)
    listener = logging.handlers.QueueListener(q, clh)
    logger = logging.getLogger(f"bench.peer.{threads}.{time.monotonic_ns()}")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    logger.addHandler(logging.handlers.QueueHandler(q))
    listener.start()
    per_thread = events // threads

    def body(t: int, n: int) -> None:
        info = logger.info
        for i in range(n):
            info("user_login", extra=_payload(i))

    t0 = time.perf_counter()
    _run_threads(threads, per_thread, body)
    enqueued = time.perf_counter() - t0
    listener.stop()
    elapsed = time.perf_counter() - t0
    clh.close()
    logger.handlers.clear()
    assert _count_lines(directory) == per_thread * threads
    return per_thread * threads / elapsed, per_thread * threads / enqueued


def _fresh_dir(root: str, name: str) -> str:
    path = os.path.join(root, name)
    shutil.rmtree(path, ignore_errors=True)
    os.makedirs(path)
    return path


def stall_clh(directory: str, size: int) -> dict[str, float]:
    """
    Longest ``emit`` while CLH rolls a ``size``-byte file over with gzip.
    """
    clh = ConcurrentRotatingFileHandler(
        os.path.join(directory, "audit.log"), maxBytes=size, backupCount=3, use_gzip=True
    )
    clh.setFormatter(JsonFormatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    record = logging.LogRecord("bench", logging.INFO, __file__, 1, "user_login", None, None)
    for k, v in _payload(0).items():
        setattr(record, k, v)
    worst, i = 0.0, 0
    while clh.num_rollovers == 0:
        t0 = time.perf_counter()
        clh.emit(record)
        worst = max(worst, time.perf_counter() - t0)
        i += 1
    clh.close()
    return {"max_call_ms": worst * 1000, "records": i}


def stall_ours(directory: str, size: int) -> dict[str, float]:
    """
    Longest ``write_event``/``flush`` while our handler rotates a ``size``-byte file.
    """
    handler = RotatingJSONFileHandler(os.path.join(directory, "audit.jsonl"), max_bytes=size)
    evt = new_event("user_login", "bench", _payload(0))
    worst, i, rotation_call = 0.0, 0, 0.0
    while handler.rotations == 0:
        t0 = time.perf_counter()
        handler.write_event(evt)
        if i % 1000 == 999:
            handler.flush()
        elapsed = time.perf_counter() - t0
        worst = max(worst, elapsed)
        i += 1
    rotation_call = elapsed
    during: list[float] = []  # calls while the background thread compresses
    t_rot = time.perf_counter()
    while not handler.wait_maintenance(timeout=0):
        t0 = time.perf_counter()
        handler.write_event(evt)
        if i % 1000 == 999:
            handler.flush()
        during.append(time.perf_counter() - t0)
        i += 1
    compress_s = time.perf_counter() - t_rot
    handler.close()
    during.sort()
    return {
        "max_call_ms": max([worst, *during]) * 1000,
        "rotation_call_ms": rotation_call * 1000,
        "max_call_during_gzip_ms": (during[-1] if during else 0.0) * 1000,
        "p99_call_during_gzip_us": (during[int(len(during) * 0.99)] if during else 0.0) * 1e6,
        "records": i,
        "background_gzip_s": compress_s,
    }


TARGET = 2.5
PROFILES: dict[str, dict[str, Any]] = {
    "quick": {"events": 4_000, "repeats": 1, "stall_mib": 1},
    "full": {"events": 40_000, "repeats": 5, "stall_mib": 16},
}


def measure(events: int = 40_000, repeats: int = 5, stall_mib: int = 16) -> dict[str, Any]:
    """
    Throughput with 1 and 4 threads (interleaved repeats), then the gzip stall.
    """
    root = tempfile.mkdtemp(prefix="bench-file-")
    results: dict[str, Any] = {
        "python": sys.version.split()[0],
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "events_per_run": events,
        "repeats": repeats,
        "throughput": {},
    }
    try:
        for threads in (1, 4):
            runs: dict[str, list[float]] = {
                "ours_bus": [],
                "ours": [],
                "ours_prebuilt": [],
                "peer": [],
                "peer_enqueue_only": [],
            }
            for _ in range(repeats):  # interleaved so drift hits both alike
                drained, enqueued = bench_peer(_fresh_dir(root, "p"), threads, events)
                runs["peer"].append(drained)
                runs["peer_enqueue_only"].append(enqueued)
                runs["ours_bus"].append(bench_ours_bus(_fresh_dir(root, "u"), threads, events))
                runs["ours"].append(bench_ours(_fresh_dir(root, "o"), threads, events, False))
                runs["ours_prebuilt"].append(
                    bench_ours(_fresh_dir(root, "b"), threads, events, True)
                )
            med = {k: statistics.median(v) for k, v in runs.items()}
            entry = {
                "median_events_per_s": {k: round(v) for k, v in med.items()},
                "runs": {k: [round(x) for x in v] for k, v in runs.items()},
                "ratio_bus_vs_peer": round(med["ours_bus"] / med["peer"], 2),
                "ratio_vs_peer": round(med["ours"] / med["peer"], 2),
                "ratio_prebuilt_vs_peer": round(med["ours_prebuilt"] / med["peer"], 2),
                "ratio_vs_peer_enqueue_only": round(med["ours"] / med["peer_enqueue_only"], 2),
            }
            results["throughput"][f"{threads}_threads"] = entry
            print(
                f"{threads} thread(s): bus.publish -> sink {med['ours_bus']:,.0f} ev/s, "
                f"sink alone {med['ours']:,.0f} ev/s "
                f"(write_event only {med['ours_prebuilt']:,.0f}), "
                f"peer {med['peer']:,.0f} ev/s drained ({med['peer_enqueue_only']:,.0f} "
                f"enqueued), ratio bus {entry['ratio_bus_vs_peer']}x, sink alone "
                f"{entry['ratio_vs_peer']}x (prebuilt "
                f"{entry['ratio_prebuilt_vs_peer']}x; vs the peer's enqueue-only rate "
                f"{entry['ratio_vs_peer_enqueue_only']}x)"
            )
        size = stall_mib * 1024 * 1024
        clh = stall_clh(_fresh_dir(root, "sc"), size)
        ours = stall_ours(_fresh_dir(root, "so"), size)
        results["gzip_stall"] = {"file_mib": stall_mib, "clh": clh, "ours": ours}
        print(
            f"rollover of a {stall_mib} MiB file, longest call: CLH (gzip under lock) "
            f"{clh['max_call_ms']:.1f} ms; ours {ours['max_call_ms']:.1f} ms (the rotating call "
            f"{ours['rotation_call_ms']:.2f} ms; during the {ours['background_gzip_s']:.2f} s "
            f"background gzip: max {ours['max_call_during_gzip_ms']:.1f} ms, "
            f"p99 {ours['p99_call_during_gzip_us']:.0f} us)"
        )
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return results


def rows(result: dict[str, Any]) -> list[dict[str, Any]]:
    """
    The report rows (see ``benchmarks/report.py``) of one result.
    """
    peer = "QueueHandler -> CLH + JsonFormatter"
    out: list[dict[str, Any]] = []
    for threads in (1, 4):
        entry = result["throughput"][f"{threads}_threads"]["median_events_per_s"]
        label = "1 thread" if threads == 1 else f"{threads} threads"
        out.append(
            {
                "metric": f"file, bus.publish -> on disk, {label}",
                "unit": "events/s",
                "ours": entry["ours_bus"],
                "peer": entry["peer"],
                "peer_name": peer,
                "target": {"on": "ratio", "op": ">=", "value": TARGET},
                "issue": 4,
            }
        )
        out.append(
            {
                "metric": f"file, sink write_event -> on disk (no bus), {label}",
                "unit": "events/s",
                "ours": entry["ours"],
                "peer": entry["peer"],
                "peer_name": peer,
                "target": None,
                "issue": 4,
            }
        )
        out.append(
            {
                "metric": f"file, bus.publish -> on disk vs peer enqueue only, {label}",
                "unit": "events/s",
                "ours": entry["ours_bus"],
                "peer": entry["peer_enqueue_only"],
                "peer_name": peer + " (enqueue only)",
                "target": None,
                "issue": 4,
            }
        )
    stall = result["gzip_stall"]
    out.append(
        {
            "metric": f"longest call during rollover + gzip of {stall['file_mib']} MiB",
            "unit": "ms",
            "ours": stall["ours"]["max_call_ms"],
            "peer": stall["clh"]["max_call_ms"],
            "peer_name": "CLH (gzip under its lock)",
            "target": None,
            "issue": 4,
        }
    )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=40_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--stall-mib", type=int, default=16)
    args = parser.parse_args()
    results = measure(args.events, args.repeats, args.stall_mib)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
