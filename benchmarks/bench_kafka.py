"""
Benchmark: KafkaHandler end to end (``bus.publish`` -> acknowledged by the broker), both
back-ends, against a bare producer loop with the same settings, in the same run.

Broker: librdkafka's mock cluster in a child process (as in the tests). Every variant
sends the same prebuilt events (value = canonical JSON, key = id, headers event_type and
traceparent) with the same ``acks=all``, idempotence, ``linger_ms``, ``batch_size`` and
compression; the clock stops once every record is acknowledged (``bus.flush()`` for
ours, ``producer.flush()`` for the bare loop). Counts are checked against the handler's
acknowledgement counter, not by consuming (the mock keeps ~5 MB per partition).

Targets (issue 6): kafka-python back-end >= 0.8x the bare ``KafkaProducer.send`` loop;
confluent back-end >= 50k events/s end to end. The script also times ``write_event``
alone (no bus) for both back-ends and the publish loop alone for confluent, to show
where the time goes. The bare loops run in the same interpreter with the same packages
(so kafka-python's CRC is compiled for both when ``crc32c`` is installed, as the
``kafka`` extra does); the bare kafka-python loop uses kafka-python's default
partitioner, ours its own murmur2 partitioner (same partitions, less CPU).

Usage: ``python benchmarks/bench_kafka.py [--events 10000] [--fast-events 100000] [--repeats 5]``
"""

from __future__ import annotations

import argparse
import contextlib
import json
import platform
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from opentelemetry.trace import SpanContext, TraceFlags

from audit_logging.bus import Bus
from audit_logging.events import EVENT_ANY, Event, new_event
from audit_logging.sinks.kafka import KafkaHandler, traceparent

RESULTS = Path(__file__).with_name("results-kafka.json")
SETTINGS: dict[str, Any] = {
    "acks": "all",
    "linger_ms": 5,
    "batch_size": 16384,
    "compression_type": "gzip",
    "enable_idempotence": True,
    "max_in_flight_requests_per_connection": 5,
}
_BROKER = r"""
import sys, confluent_kafka
p = confluent_kafka.Producer({"test.mock.num.brokers": 1})
md = p.list_topics(timeout=10)
print(",".join(f"{b.host}:{b.port}" for b in md.brokers.values()), flush=True)
sys.stdin.read()
"""
SPAN = SpanContext(
    trace_id=0x4BF92F3577B34DA6A3CE929D0E0E4736,
    span_id=0x00F067AA0BA902B7,
    is_remote=False,
    trace_flags=TraceFlags(TraceFlags.SAMPLED),
)


def _events(n: int) -> list[Event[Any]]:
    return [
        new_event(
            "user_login",
            "bench",
            {"user": "alice", "ip": "10.0.0.1", "n": i},
            context_id="req-1",
            span_context=SPAN,
        )
        for i in range(n)
    ]


def _topic() -> str:
    return f"bench-{uuid.uuid4().hex[:10]}"


def bare_kafka_python(servers: str, events: list[Event[Any]]) -> float:
    """A bare KafkaProducer.send loop; returns events/s until all acknowledged."""
    from kafka import KafkaProducer

    producer = KafkaProducer(bootstrap_servers=servers, api_version=(2, 0), **SETTINGS)
    topic = _topic()
    producer.send(topic, b"warm-up").get(10)
    records = [
        (
            e.to_json_bytes(),
            e.id.encode(),
            [("event_type", e.type.encode()), ("traceparent", traceparent(e) or b"")],
        )
        for e in events
    ]
    acked = [0]

    def ok(_: Any) -> None:
        acked[0] += 1

    start = time.perf_counter()
    for value, key, headers in records:
        producer.send(topic, value=value, key=key, headers=headers).add_callback(ok)
    producer.flush()
    elapsed = time.perf_counter() - start
    producer.close(5)
    assert acked[0] == len(events), acked[0]
    return len(events) / elapsed


def bare_confluent(servers: str, events: list[Event[Any]]) -> float:
    """A bare confluent Producer.produce loop, for reference."""
    from confluent_kafka import Producer

    from audit_logging._sinks.kafka.confluent import to_librdkafka

    conf = to_librdkafka(SETTINGS)
    conf["bootstrap.servers"] = servers
    producer = Producer(conf)
    topic = _topic()
    producer.produce(topic, b"warm-up")
    producer.flush(10)
    acked = [0]

    def ok(err: Any, _msg: Any) -> None:
        if err is None:
            acked[0] += 1

    records = [
        (
            e.to_json_bytes(),
            e.id.encode(),
            [("event_type", e.type.encode()), ("traceparent", traceparent(e) or b"")],
        )
        for e in events
    ]
    start = time.perf_counter()
    for value, key, headers in records:
        while True:
            try:
                producer.produce(topic, value=value, key=key, headers=headers, on_delivery=ok)
                break
            except BufferError:
                producer.poll(0.001)
        producer.poll(0)
    producer.flush()
    elapsed = time.perf_counter() - start
    assert acked[0] == len(events), acked[0]
    return len(events) / elapsed


def ours(servers: str, events: list[Event[Any]], backend: str) -> dict[str, float]:
    """bus.publish -> KafkaHandler(async_send) -> acknowledged; events/s and the split."""
    extra = {"api_version": (2, 0)} if backend == "kafka-python" else {}
    handler = KafkaHandler(servers, _topic(), async_send=True, backend=backend, **SETTINGS, **extra)
    handler.write_event(new_event("warm_up", "bench", {}))
    handler.flush()
    bus = Bus(buffer_size=len(events) + 10, worker_count=2, lifecycle_events=False)
    bus.subscribe(EVENT_ANY, handler, name="kafka")
    start = time.perf_counter()
    for evt in events:
        bus.publish(evt)
    published = time.perf_counter() - start
    assert bus.flush(300)
    elapsed = time.perf_counter() - start
    bus.close()
    assert handler.sent == len(events) + 1, handler.sent
    return {"end_to_end": len(events) / elapsed, "publish_loop": len(events) / published}


def write_event_only(servers: str, events: list[Event[Any]], backend: str) -> float:
    """KafkaHandler.write_event in a loop (no bus), until all acknowledged."""
    extra = {"api_version": (2, 0)} if backend == "kafka-python" else {}
    handler = KafkaHandler(servers, _topic(), async_send=True, backend=backend, **SETTINGS, **extra)
    handler.write_event(new_event("warm_up", "bench", {}))
    handler.flush()
    start = time.perf_counter()
    for evt in events:
        handler.write_event(evt)
    handler.flush()
    elapsed = time.perf_counter() - start
    handler.close()
    assert handler.sent == len(events) + 1, handler.sent
    return len(events) / elapsed


def _median(runs: list[Callable[[], float]], repeats: int) -> tuple[float, list[float]]:
    samples: list[float] = []
    for _ in range(repeats):
        samples.extend(run() for run in runs)
    return statistics.median(samples), samples


@contextlib.contextmanager
def mock_broker() -> Iterator[str]:
    """
    librdkafka's mock cluster in a child process; yields its bootstrap servers.

    The child exits when its stdin closes, so even a killed benchmark leaves no broker.
    """
    broker = subprocess.Popen(
        [sys.executable, "-c", _BROKER],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert broker.stdout is not None
    servers = broker.stdout.readline().strip()
    try:
        yield servers
    finally:
        assert broker.stdin is not None
        broker.stdin.close()
        broker.wait(10)


TARGET_KAFKA_PYTHON = 0.8
TARGET_CONFLUENT_EPS = 50_000
PROFILES: dict[str, dict[str, Any]] = {
    "quick": {"events": 5_000, "fast_events": 10_000, "repeats": 1},
    "full": {"events": 10_000, "fast_events": 100_000, "repeats": 5},
}


def measure(events: int = 10_000, fast_events: int = 100_000, repeats: int = 5) -> dict[str, Any]:
    """
    Start the mock broker, run every variant, return medians, ratios and samples.
    """
    with mock_broker() as servers:
        slow = _events(events)
        fast = _events(fast_events)
        bare_kp: list[float] = []
        ours_kp: list[float] = []
        write_kp: list[float] = []
        for _ in range(repeats):  # interleaved rounds: same machine state for all three
            bare_kp.append(bare_kafka_python(servers, slow))
            ours_kp.append(ours(servers, slow, "kafka-python")["end_to_end"])
            write_kp.append(write_event_only(servers, slow, "kafka-python"))
        ours_ck = [ours(servers, fast, "confluent") for _ in range(repeats)]
        bare_ck = [bare_confluent(servers, fast) for _ in range(repeats)]
        write_ck = [write_event_only(servers, fast, "confluent") for _ in range(repeats)]
    return {
        "kafka_python_bare_eps": statistics.median(bare_kp),
        "kafka_python_ours_eps": statistics.median(ours_kp),
        "kafka_python_ratio": statistics.median(ours_kp) / statistics.median(bare_kp),
        "kafka_python_write_event_only_eps": statistics.median(write_kp),
        "confluent_ours_end_to_end_eps": statistics.median(o["end_to_end"] for o in ours_ck),
        "confluent_ours_publish_loop_eps": statistics.median(o["publish_loop"] for o in ours_ck),
        "confluent_write_event_only_eps": statistics.median(write_ck),
        "confluent_bare_eps": statistics.median(bare_ck),
        "samples": {
            "kafka_python_bare": bare_kp,
            "kafka_python_ours": ours_kp,
            "kafka_python_write_event_only": write_kp,
            "confluent_ours": ours_ck,
            "confluent_bare": bare_ck,
            "confluent_write_event_only": write_ck,
        },
        "events": {"kafka_python": events, "confluent": fast_events},
        "settings": SETTINGS,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
    }


def rows(result: dict[str, Any]) -> list[dict[str, Any]]:
    """
    The report rows (see ``benchmarks/report.py``) of one result.
    """
    bare_ck = result["confluent_bare_eps"]
    ceiling_note = None
    if bare_ck < TARGET_CONFLUENT_EPS:
        ceiling_note = (
            f"the target is absolute; the bare produce loop itself reaches only "
            f"{bare_ck:,.0f}/s on this machine and mock broker"
        )
    return [
        {
            "metric": "kafka-python backend, publish -> acked",
            "unit": "events/s",
            "ours": result["kafka_python_ours_eps"],
            "peer": result["kafka_python_bare_eps"],
            "peer_name": "bare kafka-python send loop",
            "target": {"on": "ratio", "op": ">=", "value": TARGET_KAFKA_PYTHON},
            "issue": 6,
        },
        {
            "metric": "kafka-python backend, write_event -> acked (no bus)",
            "unit": "events/s",
            "ours": result["kafka_python_write_event_only_eps"],
            "peer": result["kafka_python_bare_eps"],
            "peer_name": "bare kafka-python send loop",
            "target": None,
            "issue": 6,
        },
        {
            "metric": "confluent backend, publish -> acked",
            "unit": "events/s",
            "ours": result["confluent_ours_end_to_end_eps"],
            "peer": bare_ck,
            "peer_name": "bare confluent produce loop",
            "target": {"on": "ours", "op": ">=", "value": TARGET_CONFLUENT_EPS},
            "issue": 6,
            "note": ceiling_note,
        },
        {
            "metric": "confluent backend, publish loop only (not acked)",
            "unit": "events/s",
            "ours": result["confluent_ours_publish_loop_eps"],
            "peer": bare_ck,
            "peer_name": "bare confluent produce loop",
            "target": None,
            "issue": 6,
        },
        {
            "metric": "confluent backend, write_event -> acked (no bus)",
            "unit": "events/s",
            "ours": result["confluent_write_event_only_eps"],
            "peer": bare_ck,
            "peer_name": "bare confluent produce loop",
            "target": None,
            "issue": 6,
        },
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=10_000, help="per kafka-python run")
    parser.add_argument("--fast-events", type=int, default=100_000, help="per confluent run")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    result = measure(args.events, args.fast_events, args.repeats)
    RESULTS.write_text(json.dumps(result, indent=2, default=str))
    for key, value in result.items():
        if isinstance(value, float):
            print(f"{key:36s} {value:12,.2f}")
    print(f"targets: kafka-python ratio >= 0.8 ({result['kafka_python_ratio']:.2f}); ")
    print(
        f"         confluent end to end >= 50k/s ({result['confluent_ours_end_to_end_eps']:,.0f})"
    )


if __name__ == "__main__":
    main()
