"""
Tests for audit_logging._sinks.otlp.handler against a loopback OTLP/HTTP receiver:
the record layout, delivery through a bus, a collector that answers 5xx or is down
(events spilled, counted and delivered by replay), retries that deliver later, the
bounded pending set and close handing back what was not exported.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk._logs import ReadableLogRecord
from opentelemetry.sdk._logs.export import LogRecordExporter, LogRecordExportResult

from audit_logging import Actor, Origin
from audit_logging.bus import Bus
from audit_logging.events import EVENT_ANY, Event, new_event
from audit_logging.sinks.otlp import OTLPExportError, OTLPHandler, OTLPSinkError
from tests._helpers import SPAN, Offset
from tests.sinks.otlp.receiver import Receiver, any_value, attributes, free_port


class GatedExporter(LogRecordExporter):
    """A real SDK exporter that holds every export until the test opens the gate."""

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.exported: list[str] = []

    def export(self, batch: Sequence[ReadableLogRecord]) -> LogRecordExportResult:
        self.gate.wait(10)
        self.exported.extend(str(r.log_record.event_name) for r in batch)
        return LogRecordExportResult.SUCCESS

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return True

    def shutdown(self) -> None:
        self.gate.set()


@pytest.fixture
def handlers() -> Iterator[list[OTLPHandler]]:
    """Handlers a test creates, closed at the end."""
    made: list[OTLPHandler] = []
    yield made
    for handler in made:
        handler.close()


def make(made: list[OTLPHandler], endpoint: str, **options: Any) -> OTLPHandler:
    options.setdefault("schedule_delay", 0.05)
    options.setdefault("close_timeout", 5.0)
    handler = OTLPHandler(endpoint, **options)
    made.append(handler)
    return handler


def _event() -> Event[Any]:
    return Event(
        "auth_login",
        "tests",
        {"user_id": "u1", "status": 200, "nested": {"n": 2**70}},
        context_id="ctx-1",
        span_context=SPAN,
        actor=Actor(user_id="u42", username="alice", auth_method="password"),
        origin=Origin(
            client_ip="10.0.0.7",
            user_agent="curl/8",
            method="POST",
            path="/login",
            route="/login",
            query="next=%2F",
        ),
    )


@pytest.mark.timeout(30)
def test_event_becomes_one_log_record_with_semantic_convention_attributes(
    receiver: Receiver, handlers: list[OTLPHandler]
) -> None:
    """event_name, time, trace/span ids and flags, semconv attributes and the payload body."""
    handler = make(handlers, receiver.endpoint, service_name="shop")
    evt = _event()
    handler.write_event(evt)
    handler.flush()
    assert receiver.wait_for(1)
    (record,) = receiver.records
    assert record.event_name == "auth_login"
    assert record.time_unix_nano == round(evt.time.timestamp() * 1e6) * 1000
    assert record.trace_id.hex() == evt.trace_id
    assert record.span_id.hex() == evt.span_id
    assert record.flags == 1
    assert record.severity_text == "INFO"
    attrs = attributes(record)
    assert attrs == {
        "log.record.uid": evt.id,
        "audit.source": "tests",
        "audit.context_id": "ctx-1",
        "user.id": "u42",
        "user.name": "alice",
        "audit.actor.auth_method": "password",
        "client.address": "10.0.0.7",
        "user_agent.original": "curl/8",
        "http.request.method": "POST",
        "url.path": "/login",
        "http.route": "/login",
        "url.query": "next=%2F",
        "http.response.status_code": 200,
    }
    # Integers beyond OTLP's int64 travel as text instead of failing the batch.
    assert any_value(record.body) == {"user_id": "u1", "status": 200, "nested": {"n": str(2**70)}}
    assert receiver.resources[0]["service.name"] == "shop"
    assert handler.sent == 1
    assert handler.pending == 0


@pytest.mark.timeout(30)
def test_log_event_without_span_has_severity_and_no_trace(
    receiver: Receiver, handlers: list[OTLPHandler]
) -> None:
    """A log_error event is severity ERROR and carries no trace or span id."""
    handler = make(handlers, receiver.endpoint)
    handler.write_event(new_event("log_error", "tests", {"message": "boom", "error": "E: x"}))
    handler.flush()
    assert receiver.wait_for(1)
    (record,) = receiver.records
    assert (record.severity_text, record.severity_number) == ("ERROR", 17)
    assert record.trace_id == b""
    assert record.span_id == b""
    assert attributes(record)["exception.message"] == "E: x"


@pytest.mark.timeout(30)
def test_every_event_published_on_a_bus_arrives(
    receiver: Receiver, handlers: list[OTLPHandler]
) -> None:
    """1,000 events through an asynchronous bus arrive once each after bus.flush()."""
    handler = make(handlers, receiver.endpoint, max_export_batch_size=100)
    with Bus(lifecycle_events=False) as bus:
        bus.subscribe(EVENT_ANY, handler, name="otlp")
        ids = {bus_publish(bus, i) for i in range(1000)}
        assert bus.flush(20)
    uids = [attributes(r)["log.record.uid"] for r in receiver.records]
    assert sorted(uids) == sorted(ids)
    assert handler.sent == 1000


def bus_publish(bus: Bus, i: int) -> str:
    evt = new_event("data_read", "tests", {"i": i})
    bus.publish(evt)
    return evt.id


@pytest.mark.timeout(30)
def test_collector_answering_500_spills_then_replay_delivers(
    receiver: Receiver, handlers: list[OTLPHandler], tmp_path: Path
) -> None:
    """A batch refused with 500 is handed back and spilled, counted, then replayed."""
    handler = make(handlers, receiver.endpoint, timeout=1.0)
    receiver.statuses.extend([500])
    errors: list[BaseException] = []
    clock = Offset()
    bus = Bus(
        asynchronous=False,
        clock=clock,
        spillover_dir=tmp_path / "spill",
        lifecycle_events=False,
        error_func=lambda exc, evt: errors.append(exc),
    )
    try:
        bus.subscribe(EVENT_ANY, handler, name="otlp")
        ids = {bus_publish(bus, i) for i in range(20)}
        assert bus.flush(10)
        assert receiver.received == 0
        assert handler.failed == 20
        assert bus.stats()["spilled"] == 20
        assert bus.stats()["dropped"] == {}
        assert any(isinstance(e, OTLPExportError) for e in errors)
        clock.offset += 3600
        assert bus.recover_spillover() == 20
        assert bus.flush(10)
    finally:
        bus.close()
    assert {attributes(r)["log.record.uid"] for r in receiver.records} == ids
    assert handler.sent == 20


@pytest.mark.timeout(30)
def test_collector_down_spills_then_replay_delivers_once_it_is_up(
    handlers: list[OTLPHandler], tmp_path: Path
) -> None:
    """Connection refused: every event spilled; a receiver started later gets them all."""
    port = free_port()
    handler = make(handlers, f"http://127.0.0.1:{port}/v1/logs", timeout=0.5)
    clock = Offset()
    bus = Bus(clock=clock, spillover_dir=tmp_path / "spill", lifecycle_events=False)
    receiver = None
    try:
        bus.subscribe(EVENT_ANY, handler, name="otlp")
        ids = {bus_publish(bus, i) for i in range(200)}
        assert bus.flush(20)
        assert bus.stats()["spilled"] == 200
        assert handler.failed == 200
        receiver = Receiver(port=port)
        clock.offset += 3600
        assert bus.recover_spillover() == 200
        assert bus.flush(20)
    finally:
        bus.close()
        if receiver is not None:
            receiver.stop()
    assert receiver is not None
    assert {attributes(r)["log.record.uid"] for r in receiver.records} == ids


@pytest.mark.timeout(30)
def test_transient_503_is_retried_by_the_exporter_and_delivered_later(
    receiver: Receiver, handlers: list[OTLPHandler]
) -> None:
    """A 503 answer is retried within the timeout: delivered, nothing handed back."""
    handler = make(handlers, receiver.endpoint, timeout=5.0)
    receiver.statuses.extend([503])
    failed: list[Sequence[Event[Any]]] = []
    handler.set_failure_callback(lambda events, exc: failed.append(events))
    handler.write_event(new_event("data_read", "tests", {"i": 1}))
    handler.flush()
    assert receiver.wait_for(1)
    assert receiver.requests == 2
    assert failed == []
    assert handler.sent == 1


@pytest.mark.timeout(30)
def test_pending_set_is_bounded_and_raises_when_full(handlers: list[OTLPHandler]) -> None:
    """With max_queue_size events pending, write_event raises after max_block (the bus spills)."""
    exporter = GatedExporter()
    handler = make(
        handlers, "", exporter=exporter, max_queue_size=4, max_export_batch_size=2, max_block=0.05
    )
    for i in range(4):
        handler.write_event(new_event("data_read", "tests", {"i": i}))
    with pytest.raises(OTLPExportError, match="pending"):
        handler.write_event(new_event("data_read", "tests", {"i": 4}))
    exporter.gate.set()
    handler.flush()
    assert handler.pending == 0
    assert handler.sent == 4


@pytest.mark.timeout(30)
def test_close_hands_back_what_was_not_exported(handlers: list[OTLPHandler]) -> None:
    """close() past close_timeout hands every pending event back and counts it."""
    exporter = GatedExporter()
    handler = make(handlers, "", exporter=exporter, close_timeout=0.1)
    failed: list[Event[Any]] = []
    handler.set_failure_callback(lambda events, exc: failed.extend(events))
    events = [new_event("data_read", "tests", {"i": i}) for i in range(3)]
    for evt in events:
        handler.write_event(evt)
    handler.close()
    assert [e.id for e in failed] == [e.id for e in events]
    assert handler.undelivered == 3
    exporter.gate.set()
    with pytest.raises(OTLPSinkError, match="closed"):
        handler.write_event(events[0])


@pytest.mark.timeout(30)
def test_abandon_returns_pending_events_at_once(handlers: list[OTLPHandler]) -> None:
    """abandon() returns the pending events without waiting for the stuck exporter."""
    exporter = GatedExporter()
    handler = make(handlers, "", exporter=exporter)
    evt = new_event("data_read", "tests", {})
    handler.write_event(evt)
    started = time.monotonic()
    assert [e.id for e in handler.abandon()] == [evt.id]
    assert time.monotonic() - started < 1
    exporter.gate.set()


@pytest.mark.timeout(30)
def test_attached_to_a_logger_it_skips_the_exporter_stack_records(
    receiver: Receiver, handlers: list[OTLPHandler]
) -> None:
    """An app record is exported; records of opentelemetry.* and urllib3.* are not."""
    handler = make(handlers, receiver.endpoint)
    logger = logging.getLogger("tests.otlp.app")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("disk %s", "low")
        own = logging.getLogger("opentelemetry.exporter.tests")
        own.addHandler(handler)
        own.propagate = False
        own.error("failed to export")
        logging.getLogger("urllib3.connectionpool").handle(
            logging.LogRecord("urllib3.connectionpool", logging.WARNING, "", 0, "x", None, None)
        )
        handler.flush()
    finally:
        logger.removeHandler(handler)
        logging.getLogger("opentelemetry.exporter.tests").removeHandler(handler)
    assert receiver.wait_for(1)
    assert [r.event_name for r in receiver.records] == ["log_warning"]
    assert any_value(receiver.records[0].body)["message"] == "disk low"


def test_options_are_validated() -> None:
    """Bad options raise ValueError before anything starts."""
    with pytest.raises(ValueError, match="compression"):
        OTLPHandler("http://127.0.0.1:1/v1/logs", compression="zip")
    with pytest.raises(ValueError, match="max_export_batch_size"):
        OTLPHandler("http://127.0.0.1:1/v1/logs", max_queue_size=2, max_export_batch_size=3)
