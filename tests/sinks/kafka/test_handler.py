"""
Tests for audit_logging._sinks.kafka.handler against librdkafka's mock broker, both
back-ends: record layout, sync and async delivery, failures handed back, an outage spilled
then delivered, oversize events dead-lettered, a bounded close, no feedback loop.

The outage tests put :class:`KafkaProxy` between the handler and the broker and cut it, a
real outage; the oversize test sends a 2 MiB event.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import weakref
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from opentelemetry.trace import SpanContext, TraceFlags

from audit_logging.bus import Bus
from audit_logging.events import EVENT_ANY, Event, new_event
from audit_logging.sinks.kafka import (
    KafkaDeliveryError,
    KafkaHandler,
    traceparent,
)
from tests._helpers import SPAN, Offset
from tests.sinks.kafka._support import BACKENDS, FAST_FAIL, make, options
from tests.sinks.kafka_fixtures import (
    KafkaProxy,
    MockBroker,
    consume_all,
    high_watermarks,
    unique_topic,
)

pytest.importorskip("kafka")
pytest.importorskip("confluent_kafka")

# kafka-python does not close the sockets of connections the cut proxy resets.
pytestmark = pytest.mark.filterwarnings(
    "ignore::ResourceWarning", "ignore::pytest.PytestUnraisableExceptionWarning"
)


@pytest.mark.timeout(30)
@pytest.mark.parametrize("backend", BACKENDS)
def test_record_carries_canonical_json_id_key_and_headers(
    mock_broker: MockBroker, handlers: list[KafkaHandler], backend: str
) -> None:
    """A sync send stores value = canonical JSON, key = id, headers type and traceparent."""
    topic = unique_topic()
    handler = make(handlers, mock_broker.bootstrap, topic, **options(backend))
    evt = new_event("user_login", "tests", {"user": "alice"}, span_context=SPAN)
    handler.write_event(evt)
    (msg,) = consume_all(mock_broker.bootstrap, topic)
    assert msg.value() == evt.to_json_bytes()
    assert msg.key() == evt.id.encode()
    assert dict(msg.headers()) == {
        "event_type": b"user_login",
        "traceparent": b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    }
    assert Event.from_dict(json.loads(msg.value())).id == evt.id


@pytest.mark.timeout(30)
def test_no_traceparent_without_a_valid_span(
    mock_broker: MockBroker, handlers: list[KafkaHandler]
) -> None:
    """An event outside any span gets the event_type header only."""
    topic = unique_topic()
    handler = make(handlers, mock_broker.bootstrap, topic, **options("kafka-python"))
    handler.write_event(new_event("user_logout", "tests", {}))
    (msg,) = consume_all(mock_broker.bootstrap, topic)
    assert [k for k, _ in msg.headers()] == ["event_type"]


@pytest.mark.timeout(30)
@pytest.mark.parametrize("backend", BACKENDS)
def test_key_by_context_id_keeps_a_request_in_one_partition(
    mock_broker: MockBroker, handlers: list[KafkaHandler], backend: str
) -> None:
    """key_by="context_id" keys by context id, so one request's events share a partition."""
    topic = unique_topic()
    handler = make(handlers, mock_broker.bootstrap, topic, **options(backend, key_by="context_id"))
    for i in range(20):
        handler.write_event(new_event("data_read", "tests", {"i": i}, context_id="req-42"))
    messages = consume_all(mock_broker.bootstrap, topic)
    assert {m.key() for m in messages} == {b"req-42"}
    assert len({m.partition() for m in messages}) == 1
    assert [json.loads(m.value())["payload"]["i"] for m in messages] == list(range(20))


@pytest.mark.timeout(60)
@pytest.mark.parametrize("backend", BACKENDS)
def test_async_run_through_the_bus_is_all_acknowledged(
    mock_broker: MockBroker, handlers: list[KafkaHandler], backend: str
) -> None:
    """Async send via the bus: after flush the broker's offsets count every event."""
    topic = unique_topic()
    handler = make(handlers, mock_broker.bootstrap, topic, **options(backend, async_send=True))
    with Bus(lifecycle_events=False, buffer_size=5000) as bus:
        bus.subscribe(EVENT_ANY, handler, name="kafka")
        for i in range(3000):
            bus.publish(new_event("data_read", "tests", {"i": i}))
        assert bus.flush(30)
    assert handler.sent == 3000
    assert sum(high_watermarks(mock_broker.bootstrap, topic).values()) == 3000


@pytest.mark.timeout(30)
@pytest.mark.parametrize("backend", BACKENDS)
def test_sync_send_to_a_dead_broker_raises(
    kafka_proxy: KafkaProxy, handlers: list[KafkaHandler], backend: str
) -> None:
    """Sync mode: an unacknowledged record raises KafkaDeliveryError (the bus spills it)."""
    handler = make(
        handlers,
        kafka_proxy.bootstrap,
        unique_topic(),
        **options(backend, delivery_timeout_ms=1500, **FAST_FAIL),
    )
    handler.write_event(new_event("user_login", "tests", {}))
    kafka_proxy.cut()
    with pytest.raises(KafkaDeliveryError):
        handler.write_event(new_event("user_login", "tests", {}))


@pytest.mark.timeout(30)
@pytest.mark.parametrize("backend", BACKENDS)
def test_failed_async_delivery_goes_to_the_failure_callback(
    kafka_proxy: KafkaProxy, handlers: list[KafkaHandler], backend: str
) -> None:
    """Async mode: a delivery that fails is handed back through the failure callback."""
    handler = make(
        handlers,
        kafka_proxy.bootstrap,
        unique_topic(),
        **options(backend, async_send=True, delivery_timeout_ms=1500, **FAST_FAIL),
    )
    failed: list[tuple[list[str], BaseException]] = []
    handler.set_failure_callback(lambda evts, exc: failed.append(([e.id for e in evts], exc)))
    handler.write_event(new_event("user_login", "tests", {}))
    handler.flush(10)
    kafka_proxy.cut()
    evt = new_event("user_login", "tests", {})
    handler.write_event(evt)
    handler.flush(10)
    assert [ids for ids, _ in failed] == [[evt.id]]
    assert isinstance(failed[0][1], KafkaDeliveryError)


@pytest.mark.timeout(90)
@pytest.mark.parametrize("backend", BACKENDS)
def test_broker_outage_spills_then_recovery_delivers_every_event(
    kafka_proxy: KafkaProxy,
    mock_broker: MockBroker,
    handlers: list[KafkaHandler],
    tmp_path: Path,
    backend: str,
) -> None:
    """5k events published while the broker is cut are spilled, then all delivered."""
    topic = unique_topic()
    handler = make(
        handlers,
        kafka_proxy.bootstrap,
        topic,
        **options(backend, async_send=True, delivery_timeout_ms=10_000, **FAST_FAIL),
    )
    clock = Offset()
    bus = Bus(
        clock=clock, spillover_dir=tmp_path / "spill", circuit_max_fails=5, lifecycle_events=False
    )
    try:
        bus.subscribe(EVENT_ANY, handler, name="kafka")
        bus.publish(new_event("user_login", "tests", {"warm": True}, span_context=SPAN))
        assert bus.flush(10)
        kafka_proxy.cut()
        cut_at = time.monotonic()
        ids = set()
        for i in range(5000):
            evt = new_event("data_read", "tests", {"i": i}, span_context=SPAN)
            ids.add(evt.id)
            bus.publish(evt)
        assert bus.flush(30)
        surfaced = time.monotonic() - cut_at
        assert surfaced < 20, f"failures surfaced after {surfaced:.1f}s"
        # Every event was spilled, or is still held by the client (librdkafka may keep a
        # record it had in flight at the cut until the broker answers again).
        spilled = bus.stats()["spilled"]
        assert spilled + handler.pending == 5000, (bus.stats(), handler.pending)
        assert spilled >= 4900
        assert bus.stats()["dropped"] == {}
        kafka_proxy.restore()
        clock.offset += 3600  # past circuit_timeout: the breaker lets the replay through
        assert bus.recover_spillover() == spilled
        assert bus.flush(30)
    finally:
        bus.close()
    messages = consume_all(mock_broker.bootstrap, topic)
    keys = [m.key().decode() for m in messages]
    assert ids <= set(keys)
    duplicates = len(keys) - len(set(keys))
    print(f"{backend}: failures surfaced after {surfaced:.1f}s, duplicates {duplicates}")
    sample = messages[-1]
    assert dict(sample.headers())["traceparent"] == traceparent(new_event("x", span_context=SPAN))
    assert dict(sample.headers())["event_type"] in (b"data_read", b"user_login")


@pytest.mark.timeout(30)
@pytest.mark.parametrize("backend", BACKENDS)
def test_oversize_event_is_dead_lettered_and_others_flow(
    mock_broker: MockBroker, handlers: list[KafkaHandler], tmp_path: Path, backend: str
) -> None:
    """A 2 MiB event is dead-lettered as record_too_large, never retried; others flow."""
    topic = unique_topic()
    handler = make(
        handlers, mock_broker.bootstrap, topic, **options(backend, dead_letter_dir=tmp_path)
    )
    big = new_event("data_written", "tests", {"blob": "x" * (2 * 1024 * 1024)})
    small = new_event("data_written", "tests", {"blob": "y"})
    handler.write_event(big)
    handler.write_event(small)
    lines = (tmp_path / f"{topic}.dead-letter.jsonl").read_text().splitlines()
    assert [json.loads(line)["reason"] for line in lines] == ["record_too_large"]
    assert json.loads(lines[0])["event"]["id"] == big.id
    assert [m.key() for m in consume_all(mock_broker.bootstrap, topic)] == [small.id.encode()]
    assert handler.dead_lettered == 1


@pytest.mark.timeout(30)
@pytest.mark.parametrize("backend", BACKENDS)
def test_close_is_bounded_and_hands_back_what_was_undelivered(
    kafka_proxy: KafkaProxy, backend: str
) -> None:
    """close() with the broker gone returns within close_timeout and reports the leftovers."""
    handler = KafkaHandler(
        kafka_proxy.bootstrap,
        unique_topic(),
        **options(backend, async_send=True, close_timeout=0.5, **FAST_FAIL),
    )
    handler.write_event(new_event("user_login", "tests", {}))
    handler.flush(10)
    kafka_proxy.cut()
    handed_back: list[str] = []
    handler.set_failure_callback(lambda evts, exc: handed_back.extend(e.id for e in evts))
    sent = [new_event("user_login", "tests", {"i": i}) for i in range(10)]
    for evt in sent:
        handler.write_event(evt)
    started = time.monotonic()
    handler.close()
    assert time.monotonic() - started < 5
    assert sorted(handed_back) == sorted(e.id for e in sent)
    assert handler.undelivered + handler.failed == 10


@pytest.mark.timeout(30)
def test_close_under_the_logging_lock_does_not_deadlock(kafka_proxy: KafkaProxy) -> None:
    """logging.shutdown-style close (under logging's module lock) returns (kafka-python#1931)."""
    handler = KafkaHandler(
        kafka_proxy.bootstrap,
        unique_topic(),
        **options(
            "kafka-python",
            async_send=True,
            close_timeout=0.5,
            delivery_timeout_ms=5000,
            **FAST_FAIL,
        ),
    )
    handler.set_failure_callback(lambda evts, exc: None)
    handler.write_event(new_event("user_login", "tests", {}))
    handler.flush(10)
    kafka_proxy.cut()
    handler.write_event(new_event("user_login", "tests", {}))

    def shutdown() -> None:
        with logging._lock:  # type: ignore[attr-defined]
            logging.shutdown([weakref.ref(handler)])

    closer = threading.Thread(target=shutdown)
    started = time.monotonic()
    closer.start()
    closer.join(10)
    assert not closer.is_alive()
    assert handler.closed
    assert time.monotonic() - started < 5


@pytest.mark.timeout(30)
def test_kafka_client_records_never_reach_the_topic(
    mock_broker: MockBroker, handlers: list[KafkaHandler]
) -> None:
    """Attached to the root logger, the handler drops kafka.* records and sends the app's."""
    topic = unique_topic()
    handler = make(handlers, mock_broker.bootstrap, topic, **options("kafka-python"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        logging.getLogger("kafka.producer.sender").warning("client trouble")
        logging.getLogger("confluent_kafka.producer").error("librdkafka trouble")
        logging.getLogger("app.billing").warning("invoice sent")
    finally:
        root.removeHandler(handler)
    messages = consume_all(mock_broker.bootstrap, topic)
    assert [json.loads(m.value())["source"] for m in messages] == ["app.billing"]


def test_invalid_arguments_are_refused() -> None:
    """Unknown back-end, key_by or an empty topic raise ValueError at construction."""
    with pytest.raises(ValueError, match="backend"):
        KafkaHandler("127.0.0.1:1", "t", backend="kafka-java", connect=False)
    with pytest.raises(ValueError, match="key_by"):
        KafkaHandler("127.0.0.1:1", "t", key_by="user", connect=False)
    with pytest.raises(ValueError, match="topic"):
        KafkaHandler("127.0.0.1:1", "", connect=False)


@pytest.mark.parametrize("backend", BACKENDS)
def test_bad_producer_options_are_refused_at_construction(backend: str) -> None:
    """A misspelt or invalid client option is a ValueError naming it, not a delivery failure."""
    with pytest.raises(ValueError, match="lingr"):
        KafkaHandler("127.0.0.1:1", "t", connect=False, **options(backend, lingr_ms=5))
    with pytest.raises(ValueError, match=r"compression|codec"):
        KafkaHandler("127.0.0.1:1", "t", **options(backend, compression_type="bogus"))
    # retry_delay=0 is valid for both (librdkafka's minimum back-off is 1 ms).
    KafkaHandler("127.0.0.1:1", "t", connect=False, **options(backend, retry_delay=0)).close()


@given(
    trace_id=st.integers(min_value=1, max_value=2**128 - 1),
    span_id=st.integers(min_value=1, max_value=2**64 - 1),
    sampled=st.booleans(),
)
def test_traceparent_is_w3c(trace_id: int, span_id: int, sampled: bool) -> None:
    """traceparent is 00-<32 hex>-<16 hex>-<flags> and carries the event's span."""
    flags = TraceFlags(TraceFlags.SAMPLED if sampled else TraceFlags.DEFAULT)
    span = SpanContext(trace_id=trace_id, span_id=span_id, is_remote=False, trace_flags=flags)
    value = traceparent(new_event("x", span_context=span))
    assert value is not None
    version, trace, parent, flag = value.decode().split("-")
    assert (version, int(trace, 16), int(parent, 16)) == ("00", trace_id, span_id)
    assert (len(trace), len(parent), flag) == (32, 16, "01" if sampled else "00")
