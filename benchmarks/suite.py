"""
The registry of benchmarks and the child-process entry point of ``python -m benchmarks``.

Every ``bench_*.py`` module exposes the same three names, so the runner needs no
knowledge of what it measures:

- ``PROFILES``: ``{"quick": {...}, "full": {...}}``, keyword arguments of ``measure``;
- ``measure(**kwargs) -> dict``: run the measurement (ours and its peer, interleaved in
  the same run) and return the raw result, also what the script writes on its own;
- ``rows(result) -> list[dict]``: the report rows (the contract is in ``report.py``).

``python -m benchmarks`` runs each selected benchmark in a fresh interpreter
(``python -m benchmarks.suite NAME PROFILE OUT``): a cold process for the memory
measurement, no threads, loggers or producers left over from a previous benchmark
(kafka-python leaves its sender thread alive), a time limit per benchmark, and a crash
in one (a segfaulting C extension) costs only its own rows.
"""

from __future__ import annotations

import importlib
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Spec:
    """
    One benchmark: its module, what it compares, and its time limits.
    """

    module: str
    description: str
    timeout_quick: float
    timeout_full: float

    def timeout(self, profile: str) -> float:
        return self.timeout_quick if profile == "quick" else self.timeout_full


BENCHMARKS: dict[str, Spec] = {
    "events": Spec(
        "bench_events", "event build + encode vs stdlib QueueHandler (issue 2)", 60, 120
    ),
    "bus": Spec(
        "bench_bus",
        "bus caller cost, throughput, memory vs stdlib QueueHandler (issue 3)",
        120,
        300,
    ),
    "stdlib": Spec("bench_stdlib", "AuditHandler vs stdlib QueueHandler (issue 5)", 60, 180),
    "structlog": Spec(
        "bench_structlog", "AuditProcessor / bus.publish vs structlog JSON to /dev/null", 60, 180
    ),
    "loguru": Spec("bench_loguru", "AuditHandler vs loguru enqueue=True", 90, 240),
    "file": Spec(
        "bench_file", "file sink vs QueueHandler -> CLH + JsonFormatter (issue 4)", 90, 300
    ),
    "database": Spec(
        "bench_database",
        "DatabaseHandler vs bare executemany and psycopg COPY (issue 4)",
        120,
        360,
    ),
    "asgi": Spec(
        "bench_asgi",
        "ASGI event-loop stall with vs without ASGIAuditMiddleware (issue 14)",
        90,
        240,
    ),
    "scope": Spec(
        "bench_scope",
        "event build/encode with actor + origin bound vs nothing bound (issue 15)",
        60,
        180,
    ),
    "otlp": Spec(
        "bench_otlp",
        "OTLPHandler vs opentelemetry-sdk LoggingHandler, same records and receiver (issue 18)",
        60,
        240,
    ),
    "kafka": Spec(
        "bench_kafka", "KafkaHandler vs bare kafka-python / confluent loops (issue 6)", 120, 420
    ),
    "latency": Spec(
        "bench_latency",
        "logger.info caller latency distribution, file + PostgreSQL sinks at 2000/s (issue 19)",
        60,
        120,
    ),
    "collect": Spec(
        "bench_collect",
        "Kafka collector -> DatabaseHandler vs a bare consume -> executemany loop (issue 18)",
        120,
        420,
    ),
    "integrity": Spec(
        "bench_integrity",
        "file / SQL / Kafka sinks with vs without integrity; verify rate (issue 16)",
        120,
        360,
    ),
}


def run(name: str, profile: str) -> dict[str, Any]:
    """
    Run one benchmark in this process; returns its raw result and its row specs.
    """
    module = importlib.import_module(f"benchmarks.{BENCHMARKS[name].module}")
    result = module.measure(**module.PROFILES[profile])
    return {"result": result, "rows": module.rows(result)}


def main(argv: list[str]) -> int:
    """
    Child entry point: ``NAME PROFILE OUT``; writes ``run()``'s answer as JSON to OUT.
    """
    name, profile, out = argv
    payload = run(name, profile)
    Path(out).write_text(json.dumps(payload, default=str), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
