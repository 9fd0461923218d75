"""
Benchmark: OTLPHandler against the OpenTelemetry SDK's own ``LoggingHandler``, on the
same records, to the same loopback OTLP/HTTP receiver, in the same run.

Both sides run the same pipeline: a ``LoggerProvider`` with a ``BatchLogRecordProcessor``
(same ``schedule_delay``, batch size and a queue as large as the run, so the SDK's
drop-oldest policy never thins the peer's work) over the SDK's OTLP/HTTP protobuf
exporter. Ours is given prebuilt audit events (``write_event``, what the bus calls); the
peer is given prebuilt ``logging.LogRecord`` objects carrying the same information (the
message is the event type, and the flattened attributes and the payload are record
attributes, which the SDK handler exports as attributes), through ``handler.handle``.
The clock stops when the receiver has decoded every record (``flush`` /
``force_flush``); counts are checked. The receiver is the tests' own
(``tests/sinks/otlp/receiver.py``), counting records without keeping them.

Target (issue 18): end-to-end throughput >= 1x the SDK handler's. The caller cost
(``write_event`` vs ``handle`` alone, export not waited for) is reported for context.

Usage: ``python -m benchmarks.bench_otlp [--events 20000] [--repeats 5]``
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import statistics
import sys
import time
import warnings
from pathlib import Path
from typing import Any

from opentelemetry.trace import SpanContext, TraceFlags

from audit_logging import Actor, Origin
from audit_logging._sinks.otlp.records import body_of, event_attributes
from audit_logging.events import Event
from audit_logging.sinks.otlp import OTLPHandler
from tests.sinks.otlp.receiver import Receiver

RESULTS = Path(__file__).with_name("results_otlp.json")
SCHEDULE_DELAY = 0.2
BATCH = 512
TARGET_RATIO = 1.0


def _events(n: int) -> list[Event[Any]]:
    span = SpanContext(0x4BF92F3577B34DA6A3CE929D0E0E4736, 0x00F067AA0BA902B7, False, TraceFlags(1))
    actor = Actor(user_id="u42", username="alice", auth_method="session")
    origin = Origin(client_ip="10.0.0.7", user_agent="Mozilla/5.0", method="POST", path="/items")
    return [
        Event(
            "http_request_received",
            "shop.api",
            {"method": "POST", "path": "/items", "i": i},
            context_id=f"req-{i // 10}",
            span_context=span,
            actor=actor,
            origin=origin,
        )
        for i in range(n)
    ]


def _records(events: list[Event[Any]]) -> list[logging.LogRecord]:
    records = []
    for evt in events:
        record = logging.LogRecord("shop.api", logging.INFO, __file__, 1, evt.type, None, None)
        body = body_of(evt)
        record.__dict__.update(event_attributes(evt, body))
        record.__dict__["payload"] = body
        record.created = evt.time.timestamp()
        records.append(record)
    return records


def ours(receiver: Receiver, events: list[Event[Any]]) -> dict[str, float]:
    handler = OTLPHandler(
        receiver.endpoint,
        schedule_delay=SCHEDULE_DELAY,
        max_export_batch_size=BATCH,
        max_queue_size=len(events),
    )
    start = receiver.received
    began = time.perf_counter()
    for evt in events:
        handler.write_event(evt)
    written = time.perf_counter()
    handler.flush()
    assert receiver.wait_for(start + len(events), 60), receiver.received - start
    done = time.perf_counter()
    handler.close()
    assert handler.sent == len(events), handler.sent
    return {"end_to_end": len(events) / (done - began), "caller": (written - began) / len(events)}


def sdk_handler(receiver: Receiver, records: list[logging.LogRecord]) -> dict[str, float]:
    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
    from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
    from opentelemetry.sdk._logs.export import BatchLogRecordProcessor

    provider = LoggerProvider(shutdown_on_exit=False)
    provider.add_log_record_processor(
        BatchLogRecordProcessor(
            OTLPLogExporter(endpoint=receiver.endpoint),
            schedule_delay_millis=SCHEDULE_DELAY * 1000,
            max_export_batch_size=BATCH,
            max_queue_size=len(records),
        )
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # deprecated in SDK 1.40, still there
        handler = LoggingHandler(logger_provider=provider)
    start = receiver.received
    began = time.perf_counter()
    for record in records:
        handler.handle(record)
    written = time.perf_counter()
    provider.force_flush()
    assert receiver.wait_for(start + len(records), 60), receiver.received - start
    done = time.perf_counter()
    provider.shutdown()
    return {"end_to_end": len(records) / (done - began), "caller": (written - began) / len(records)}


PROFILES: dict[str, dict[str, Any]] = {
    "quick": {"events": 2_000, "repeats": 1},
    "full": {"events": 20_000, "repeats": 5},
}


def measure(events: int = 20_000, repeats: int = 5) -> dict[str, Any]:
    """
    Run both handlers ``repeats`` times, interleaved; return medians, the ratio and samples.
    """
    evts = _events(events)
    records = _records(evts)
    receiver = Receiver(decode=False)
    ours_runs: list[dict[str, float]] = []
    peer_runs: list[dict[str, float]] = []
    try:
        for _ in range(repeats):
            ours_runs.append(ours(receiver, evts))
            peer_runs.append(sdk_handler(receiver, records))
    finally:
        receiver.stop()
    ours_eps = statistics.median(r["end_to_end"] for r in ours_runs)
    peer_eps = statistics.median(r["end_to_end"] for r in peer_runs)
    return {
        "ours_eps": ours_eps,
        "sdk_handler_eps": peer_eps,
        "ratio": ours_eps / peer_eps,
        "ours_caller_us": statistics.median(r["caller"] for r in ours_runs) * 1e6,
        "sdk_handler_caller_us": statistics.median(r["caller"] for r in peer_runs) * 1e6,
        "samples": {"ours": ours_runs, "sdk_handler": peer_runs},
        "events": events,
        "settings": {"schedule_delay_s": SCHEDULE_DELAY, "max_export_batch_size": BATCH},
        "python": sys.version.split()[0],
        "platform": platform.platform(),
    }


def rows(result: dict[str, Any]) -> list[dict[str, Any]]:
    """
    The report rows (see ``benchmarks/report.py``) of one result.
    """
    return [
        {
            "metric": "OTLP export, write -> received by the collector",
            "unit": "events/s",
            "ours": result["ours_eps"],
            "peer": result["sdk_handler_eps"],
            "peer_name": "opentelemetry-sdk LoggingHandler (same pipeline)",
            "target": {"on": "ratio", "op": ">=", "value": TARGET_RATIO},
            "issue": 18,
        },
        {
            "metric": "OTLP export, caller cost per event (not waited for)",
            "unit": "us/call",
            "ours": result["ours_caller_us"],
            "peer": result["sdk_handler_caller_us"],
            "peer_name": "opentelemetry-sdk LoggingHandler.handle",
            "target": None,
            "issue": 18,
        },
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    result = measure(args.events, args.repeats)
    RESULTS.write_text(json.dumps(result, indent=2, default=str))
    for key, value in result.items():
        if isinstance(value, float):
            print(f"{key:24s} {value:12,.2f}")
    print(f"target: ratio >= {TARGET_RATIO} ({result['ratio']:.2f})")


if __name__ == "__main__":
    main()
