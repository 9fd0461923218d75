"""
Event construction + encoding versus one stdlib log call through a QueueHandler.

Measures in one run:

(a) ``new_auth_login("api", "u42").to_json_bytes()``: build an audit event and
    encode its canonical JSON line (what every publish pays before any sink);
(b) ``logger.info("user %s logged in", "u42")`` on a logger whose only handler
    is a stdlib ``QueueHandler`` drained by a started ``QueueListener`` into a
    ``NullHandler`` (the cheapest non-blocking logging set-up people deploy);
(c) the ratio a / b, whose target is <= 0.3: an audit event should cost the
    application less than a third of an ordinary asynchronous log line.

The two timings are taken in interleaved rounds (a, b, a, b, ...) and the
median per-call time of each is reported, so drift on a busy machine hits both
alike. Results are printed and written as JSON to ``benchmarks/results-events.json``
(git-ignored).

Usage::

    python benchmarks/bench_events.py [--rounds 15] [--quick] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import logging
import logging.handlers
import platform
import queue
import statistics
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from audit_logging.events import Event, new_event

try:
    from audit_logging.factories import new_auth_login
except ImportError:  # pragma: no cover - before the factories module existed

    def new_auth_login(source: str, user_id: str) -> Event[Any]:  # type: ignore[misc]
        return new_event("auth_login", source, {"user_id": user_id})


TARGET_RATIO = 0.3
DEFAULT_JSON = Path(__file__).with_name("results-events.json")


def _calls_per_round(func: Callable[[], object], budget_s: float) -> int:
    """
    Pick a call count so one round of ``func`` takes about ``budget_s`` seconds.
    """
    number = 1
    while True:
        start = time.perf_counter()
        for _ in range(number):
            func()
        elapsed = time.perf_counter() - start
        if elapsed >= budget_s / 10 or number >= 1 << 22:
            return max(1, int(number * budget_s / max(elapsed, 1e-9)))
        number *= 2


def _round(func: Callable[[], object], number: int) -> float:
    """
    Seconds per call over one round of ``number`` calls.
    """
    start = time.perf_counter()
    for _ in range(number):
        func()
    return (time.perf_counter() - start) / number


class _DrainingNullHandler(logging.NullHandler):
    """
    A NullHandler that also signals when a marker record has passed the listener.

    Waiting for the marker after each logging round keeps the listener's backlog
    from being drained during (and billed to) the next round of (a).
    """

    def __init__(self) -> None:
        super().__init__()
        self.marker = object()
        self.drained = threading.Event()

    def handle(self, record: logging.LogRecord) -> bool:
        if record.msg is self.marker:
            self.drained.set()
        return True


def build_and_encode() -> bytes:
    """
    (a): one audit event built and encoded.
    """
    return new_auth_login("api", "u42").to_json_bytes()


PROFILES: dict[str, dict[str, Any]] = {
    "quick": {"rounds": 5, "round_seconds": 0.02},
    "full": {"rounds": 15, "round_seconds": 0.1},
}


def measure(rounds: int = 15, round_seconds: float = 0.1) -> dict[str, Any]:
    """
    Interleaved rounds of (a) and (b); returns medians, the ratio and the samples.
    """
    log_queue: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
    sink = _DrainingNullHandler()
    listener = logging.handlers.QueueListener(log_queue, sink)
    logger = logging.getLogger("bench")
    logger.handlers[:] = [logging.handlers.QueueHandler(log_queue)]
    logger.setLevel(logging.INFO)
    logger.propagate = False

    def log_call() -> None:
        logger.info("user %s logged in", "u42")

    def drain() -> None:
        sink.drained.clear()
        log_queue.put(logging.makeLogRecord({"msg": sink.marker}))
        if not sink.drained.wait(timeout=60):
            raise RuntimeError("the QueueListener did not drain within 60 s")

    listener.start()
    try:
        cases: dict[str, Callable[[], object]] = {"event": build_and_encode, "log": log_call}
        numbers = {name: _calls_per_round(func, round_seconds) for name, func in cases.items()}
        drain()
        samples: dict[str, list[float]] = {name: [] for name in cases}
        for _ in range(rounds):
            for name, func in cases.items():
                samples[name].append(_round(func, numbers[name]))
                drain()
    finally:
        listener.stop()
        logger.handlers.clear()

    event_s = statistics.median(samples["event"])
    log_s = statistics.median(samples["log"])
    ratio = event_s / log_s
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "rounds": rounds,
        "calls_per_round": numbers,
        "event_build_encode_us": round(event_s * 1e6, 3),
        "stdlib_queue_log_us": round(log_s * 1e6, 3),
        "ratio": round(ratio, 3),
        "target_ratio": TARGET_RATIO,
        "meets_target": ratio <= TARGET_RATIO,
        "samples_us": {k: [round(v * 1e6, 3) for v in vs] for k, vs in samples.items()},
    }


def rows(result: dict[str, Any]) -> list[dict[str, Any]]:
    """
    The report rows (see ``benchmarks/report.py``) of one result.
    """
    return [
        {
            "metric": "build + encode new_auth_login vs logger.info",
            "unit": "us/call",
            "ours": result["event_build_encode_us"],
            "peer": result["stdlib_queue_log_us"],
            "peer_name": "stdlib QueueHandler",
            "target": {"on": "ratio", "op": "<=", "value": TARGET_RATIO},
            "issue": 2,
        }
    ]


def main(argv: list[str] | None = None) -> int:
    """
    Run the benchmark; returns 0 (the ratio is reported, not enforced).
    """
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=15, help="interleaved rounds per case")
    parser.add_argument("--round-seconds", type=float, default=0.1, help="target round length")
    parser.add_argument("--quick", action="store_true", help="5 short rounds (smoke test)")
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON, help="where to write results")
    args = parser.parse_args(argv)
    if args.quick:
        result = measure(**PROFILES["quick"])
    else:
        result = measure(args.rounds, args.round_seconds)
    event_us, log_us, ratio = (
        result["event_build_encode_us"],
        result["stdlib_queue_log_us"],
        result["ratio"],
    )
    print(f"(a) new_auth_login(...).to_json_bytes()   median {event_us:8.3f} us")
    print(f"(b) logger.info(...) via QueueHandler     median {log_us:8.3f} us")
    verdict = "meets" if ratio <= TARGET_RATIO else "MISSES"
    print(f"(c) ratio a/b = {ratio:.3f} ({verdict} target <= {TARGET_RATIO})")
    args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"results written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
