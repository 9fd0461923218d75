"""
AuditProcessor against structlog's own JSON line to /dev/null, caller cost, in one run.

Both structlog cases make the same call,
``log.info("user logged in", user_id=uid, ip="10.0.0.1", plan="pro", attempt=1)``, on a
logger set up as structlog's performance guide recommends (``make_filtering_bound_logger``,
``cache_logger_on_first_use``, an orjson serializer, ``BytesLogger``); only the processor
chain differs:

- peer: ``merge_contextvars``, ``add_log_level``, ``TimeStamper(fmt="iso", utc=True)``,
  ``JSONRenderer(serializer=orjson.dumps)`` -> ``BytesLogger`` on a file opened on
  ``/dev/null`` (one write and flush per line, in the caller, as structlog does);
- audit: ``merge_contextvars``, ``AuditProcessor(bus)``, then ``DropEvent``: the entry
  becomes a ``log_info`` event published on an asynchronous bus (history, schema check and
  sanitizing on, as by default) with one no-op subscriber, and nothing is rendered;
- direct: ``bus.publish(new_auth_login("api", uid))`` on the same bus, the event API with
  no logging front end (what an application that audits explicitly pays).

The audit side is therefore "what it costs a structlog user to turn a log call into an
audit event instead of a JSON line". Rounds alternate the three cases; the bus is flushed
after each of its rounds so a backlog is not billed to the next one. Medians per call are
reported. No issue sets a target against structlog: the rows are context.

Usage::

    python benchmarks/bench_structlog.py [--quick] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import statistics
import time
from collections.abc import Callable, MutableMapping
from pathlib import Path
from typing import Any

import orjson
import structlog

from audit_logging.bus import Bus
from audit_logging.events import EVENT_ANY
from audit_logging.factories import new_auth_login
from audit_logging.structlog import AuditProcessor

DEFAULT_JSON = Path(__file__).with_name("results-structlog.json")
PROFILES: dict[str, dict[str, Any]] = {
    "quick": {"rounds": 3, "per_round": 2_000},
    "full": {"rounds": 9, "per_round": 20_000},
}


def _drop(_logger: Any, _method: str, _event_dict: MutableMapping[str, Any]) -> Any:
    """
    End the audit chain: the event is published, no line is rendered.
    """
    raise structlog.DropEvent


def _bound(processors: list[Any], sink: Any) -> Any:
    """
    A concrete bound logger (not the lazy proxy) with the given chain.
    """
    proxy = structlog.wrap_logger(
        structlog.BytesLogger(sink),
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(logging.INFO),
        cache_logger_on_first_use=True,
    )
    return proxy.bind()


def _round(call: Callable[[int], object], n: int) -> float:
    start = time.perf_counter()
    for uid in range(n):
        call(uid)
    return (time.perf_counter() - start) / n * 1e6


def measure(rounds: int = 9, per_round: int = 20_000) -> dict[str, Any]:
    """
    Interleaved rounds of the three cases; medians in µs per call.
    """
    bus = Bus(buffer_size=per_round * 2, lifecycle_events=False)
    bus.subscribe(EVENT_ANY, lambda evt: None, name="noop")
    devnull = open(os.devnull, "wb")  # noqa: SIM115 - closed in finally
    peer_log = _bound(
        [
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.JSONRenderer(serializer=orjson.dumps),
        ],
        devnull,
    )
    audit_log = _bound(
        [structlog.contextvars.merge_contextvars, AuditProcessor(bus, source="bench"), _drop],
        devnull,
    )
    publish = bus.publish

    def peer(uid: int) -> None:
        peer_log.info("user logged in", user_id=uid, ip="10.0.0.1", plan="pro", attempt=1)

    def audit(uid: int) -> None:
        audit_log.info("user logged in", user_id=uid, ip="10.0.0.1", plan="pro", attempt=1)

    def direct(uid: int) -> None:
        publish(new_auth_login("api", f"u{uid}"))

    cases = {"audit_processor": audit, "bus_publish": direct, "structlog_json": peer}
    samples: dict[str, list[float]] = {name: [] for name in cases}
    try:
        for call in cases.values():  # warm-up
            _round(call, per_round // 10)
        bus.flush()
        for _ in range(rounds):
            for name, call in cases.items():
                samples[name].append(_round(call, per_round))
                bus.flush()
        stats = bus.stats()
    finally:
        bus.close()
        devnull.close()
    med = {name: statistics.median(values) for name, values in samples.items()}
    return {
        "median_us": {k: round(v, 3) for k, v in med.items()},
        "ratio_audit_processor_vs_structlog": round(
            med["audit_processor"] / med["structlog_json"], 3
        ),
        "ratio_bus_publish_vs_structlog": round(med["bus_publish"] / med["structlog_json"], 3),
        "rounds_us": {k: [round(x, 3) for x in v] for k, v in samples.items()},
        "calls_per_round": per_round,
        "dropped_or_spilled": {"spilled": stats["spilled"], "dropped": stats["dropped"]},
        "structlog": structlog.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def rows(result: dict[str, Any]) -> list[dict[str, Any]]:
    """
    The report rows (see ``benchmarks/report.py``) of one result.
    """
    med = result["median_us"]
    peer = "structlog JSONRenderer -> /dev/null"
    return [
        {
            "metric": "structlog log.info caller cost, AuditProcessor -> bus",
            "unit": "us/call",
            "ours": med["audit_processor"],
            "peer": med["structlog_json"],
            "peer_name": peer,
            "target": None,
        },
        {
            "metric": "bus.publish(new_auth_login(...)) vs a structlog JSON line",
            "unit": "us/call",
            "ours": med["bus_publish"],
            "peer": med["structlog_json"],
            "peer_name": peer,
            "target": None,
        },
    ]


def main() -> None:
    """
    Parse arguments, run, print and save the result.
    """
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a short smoke run")
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON)
    args = parser.parse_args()
    result = measure(**PROFILES["quick" if args.quick else "full"])
    med = result["median_us"]
    print(
        f"AuditProcessor -> bus {med['audit_processor']:.2f} us/call, "
        f"bus.publish(new_auth_login) {med['bus_publish']:.2f} us/call, "
        f"structlog JSON -> /dev/null {med['structlog_json']:.2f} us/call; ratios "
        f"{result['ratio_audit_processor_vs_structlog']:.2f} and "
        f"{result['ratio_bus_publish_vs_structlog']:.2f}"
    )
    args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
