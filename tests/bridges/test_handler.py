"""
Tests for AuditHandler: records -> events, filtering, re-entrancy and the bus it resolves.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider

from audit_logging._engine.registry import get_bus
from audit_logging._threads import new_thread
from audit_logging.bus import Bus
from audit_logging.context import bind_context_id
from audit_logging.events import EVENT_ANY, Event, new_event
from audit_logging.sinks.file import RotatingJSONFileHandler
from audit_logging.stdlib import AuditHandler
from tests._helpers import Recorder


def _logger(handler: logging.Handler, name: str = "app") -> logging.Logger:
    log = logging.getLogger(f"test_stdlib.{name}.{uuid.uuid4().hex[:8]}")
    log.handlers[:] = [handler]
    log.propagate = False
    log.setLevel(1)
    return log


@pytest.mark.parametrize(
    ("level", "event_type"),
    [
        (logging.DEBUG, "log_debug"),
        (logging.INFO, "log_info"),
        (logging.WARNING, "log_warning"),
        (logging.ERROR, "log_error"),
        (logging.CRITICAL, "log_fatal"),
        (25, "log_info"),
        (5, "log_debug"),
    ],
)
def test_levels_map_to_log_event_types(
    bus: Bus, rec: Recorder, level: int, event_type: str
) -> None:
    """Each level becomes its log event type (levels in between round down)."""
    _logger(AuditHandler(bus)).log(level, "hello")
    assert [e.type for e in rec.events] == [event_type]


def test_message_and_extra_become_message_and_typed_fields(bus: Bus, rec: Recorder) -> None:
    """The rendered message is the message; extras are fields keeping their JSON types (#15)."""
    log = _logger(AuditHandler(bus))
    extra = {"ip": "10.0.0.1", "n": 3, "ok": True, "amount": 12.5, "tags": ["a", "b"]}
    log.info("user %s logged in", "u1", extra=extra | {"none": None, "card": {"last4": "4242"}})
    evt = rec.events[0]
    assert evt.payload == {
        "message": "user u1 logged in",
        "fields": extra | {"none": None, "card": {"last4": "4242"}},
    }


def test_source_defaults_to_logger_name_and_can_be_fixed(bus: Bus, rec: Recorder) -> None:
    """Without ``source`` the logger name is the source; with it, the given one."""
    log = _logger(AuditHandler(bus))
    log.info("a")
    _logger(AuditHandler(bus, source="svc")).info("b")
    assert [e.source for e in rec.events] == [log.name, "svc"]


def test_exc_info_becomes_masked_error_text(bus: Bus, rec: Recorder) -> None:
    """``exc_info`` gives ``"Type: message"`` with the DSN password masked."""
    log = _logger(AuditHandler(bus))
    try:
        raise ConnectionError("cannot reach postgresql://u:s3cr3t@db/app")
    except ConnectionError:
        log.exception("db down")
    payload = rec.events[0].payload
    assert payload["error"] == "ConnectionError: cannot reach postgresql://u:****@db/app"
    assert "traceback" not in payload


def test_traceback_is_opt_in_and_masked(bus: Bus, rec: Recorder) -> None:
    """``include_traceback`` adds the traceback text, masked and without locals."""
    log = _logger(AuditHandler(bus, include_traceback=True))
    password = "s3cr3t"  # a local that must never be shown
    try:
        raise ValueError(f"password={password}")
    except ValueError:
        log.error("failed", exc_info=True)
    text = rec.events[0].payload["traceback"]
    assert "Traceback" in text
    assert "ValueError: password=****" in text
    assert "s3cr3t" not in text


def test_error_extra_is_the_error_text(bus: Bus, rec: Recorder) -> None:
    """``extra={"error": ...}`` fills ``error`` and is not repeated in fields."""
    _logger(AuditHandler(bus)).error("x", extra={"error": "disk full", "k": "v"})
    assert rec.events[0].payload == {"message": "x", "error": "disk full", "fields": {"k": "v"}}


def test_critical_with_exception_keeps_the_error(bus: Bus, rec: Recorder) -> None:
    """A CRITICAL record with ``exc_info`` becomes log_fatal with an ``error``."""
    try:
        raise RuntimeError("fatal")
    except RuntimeError:
        _logger(AuditHandler(bus)).critical("stop", exc_info=True)
    assert rec.events[0].type == "log_fatal"
    assert rec.events[0].payload["error"] == "RuntimeError: fatal"


def test_audit_event_extra_is_published_as_is(bus: Bus, rec: Recorder) -> None:
    """``extra={"audit_event": evt}`` publishes that very event."""
    evt = new_event("user_deleted", "users", {"user_id": "u9"})
    _logger(AuditHandler(bus)).info("ignored", extra={"audit_event": evt})
    assert rec.events == [evt]


def test_event_type_and_payload_make_a_domain_event(bus: Bus, rec: Recorder) -> None:
    """``extra={"event_type", "payload"}`` publishes a domain event."""
    _logger(AuditHandler(bus)).info(
        "login", extra={"event_type": "auth_login", "payload": {"user_id": "u1"}}
    )
    evt = rec.events[0]
    assert (evt.type, evt.payload) == ("auth_login", {"user_id": "u1"})


def test_context_id_from_binding_and_from_extra(bus: Bus, rec: Recorder) -> None:
    """The bound context id is used; ``extra={"context_id"}`` overrides it."""
    log = _logger(AuditHandler(bus))
    with bind_context_id("req-1"):
        log.info("a")
        log.info("b", extra={"context_id": "req-2"})
    assert [e.context_id for e in rec.events] == ["req-1", "req-2"]
    assert "context_id" not in rec.events[1].payload["fields"]


def test_span_from_otel_record_attributes(bus: Bus, rec: Recorder) -> None:
    """``otelTraceID``/``otelSpanID`` on the record become the event's span."""
    extra = {"otelTraceID": "0af7651916cd43dd8448eb211c80319c", "otelSpanID": "b7ad6b7169203331"}
    _logger(AuditHandler(bus)).info("x", extra=extra)
    d = rec.events[0].to_dict()
    assert (d["trace_id"], d["span_id"]) == (extra["otelTraceID"], extra["otelSpanID"])
    assert rec.events[0].payload["fields"] == {}


def test_span_from_current_otel_span(bus: Bus, rec: Recorder) -> None:
    """Inside an active span the record carries that span's ids."""
    tracer = TracerProvider().get_tracer("t")
    with tracer.start_as_current_span("s") as span:
        _logger(AuditHandler(bus)).info("x")
        expected = span.get_span_context()
    assert rec.events[0].span_context.trace_id == expected.trace_id


def test_request_object_in_extra_is_method_and_path_only(bus: Bus, rec: Recorder) -> None:
    """A request-like extra becomes ``"METHOD /path"``, never its headers or cookies."""

    class FakeRequest:
        method = "POST"
        path = "/login"

        def __init__(self) -> None:
            self.COOKIES = {"sessionid": "s3cr3t"}
            self.headers = {"Authorization": "Bearer s3cr3t"}

        def __str__(self) -> str:
            return "<Request POST /login?token=s3cr3t cookies=s3cr3t>"

    _logger(AuditHandler(bus)).error(
        "Bad request", extra={"status_code": 400, "request": FakeRequest()}
    )
    fields = rec.events[0].payload["fields"]
    assert fields == {"status_code": 400, "request": "POST /login"}


def test_emit_failure_goes_to_handle_error(bus: Bus) -> None:
    """A record that cannot be mapped never raises into the caller."""
    handler = AuditHandler(bus)
    errors: list[logging.LogRecord] = []
    handler.handleError = errors.append  # type: ignore[method-assign]
    # A message whose %-formatting fails: getMessage raises inside emit.
    _logger(handler).info("%d", "not a number")
    assert len(errors) == 1


def test_records_from_audit_logging_and_kafka_are_ignored(bus: Bus, rec: Recorder) -> None:
    """Our own diagnostics and kafka-python's logs never loop back into the bus."""
    handler = AuditHandler(bus, ignore_loggers=["noisy"])
    for name in ("audit_logging", "audit_logging.bus", "kafka.conn", "noisy.sub"):
        logger = logging.getLogger(name)
        handler.handle(logger.makeRecord(name, logging.ERROR, "f", 1, "m", None, None))
    handler.handle(
        logging.getLogger("kafkaesque").makeRecord("kafkaesque", 40, "f", 1, "m", None, None)
    )
    assert [e.source for e in rec.events] == ["kafkaesque"]


def test_records_from_package_threads_are_ignored(bus: Bus, rec: Recorder) -> None:
    """A driver log emitted in a thread the package started is not published."""
    log = _logger(AuditHandler(bus))
    thread = new_thread(log.warning, "anything", "driver says")
    thread.start()
    thread.join()
    assert rec.events == []


def test_application_threads_named_like_ours_are_published(bus: Bus, rec: Recorder) -> None:
    """Own threads are known by identity: an app thread named ``audit-*`` is not silenced."""
    log = _logger(AuditHandler(bus))
    thread = threading.Thread(target=log.warning, args=("app says",), name="audit-db-flusher-x")
    thread.start()
    thread.join()
    assert [e.payload["message"] for e in rec.events] == ["app says"]


def test_records_from_a_real_bus_worker_are_ignored(rec: Recorder) -> None:
    """A subscriber on an async bus logging to an AuditHandler's logger does not loop."""
    with Bus(asynchronous=True, lifecycle_events=False) as abus:
        log = _logger(AuditHandler(abus))
        seen: list[str] = []

        def chatty(evt: Event[Any]) -> None:
            seen.append(evt.type)
            log.warning("worker says")

        abus.subscribe("*", chatty, name="chatty")
        abus.publish(new_event("order_placed", "t", {}))
        assert abus.flush(10)
    assert seen == ["order_placed"]


def test_reentrant_record_during_publish_is_dropped(bus: Bus) -> None:
    """A subscriber that logs to the same logger does not loop (sync bus)."""
    handler = AuditHandler(bus)
    log = _logger(handler)
    seen: list[Event[Any]] = []

    def chatty(evt: Event[Any]) -> None:
        seen.append(evt)
        log.warning("handled %s", evt.type)

    bus.subscribe("*", chatty, name="chatty")
    log.info("one")
    assert [e.payload["message"] for e in seen] == ["one"]


def test_close_is_idempotent_and_leaves_the_bus_open(bus: Bus) -> None:
    """Closing the handler twice is fine and does not close the bus."""
    handler = AuditHandler(bus)
    handler.close()
    handler.close()
    assert not bus.closed


def test_bus_by_registry_name_and_by_mapping() -> None:
    """A name resolves through get_bus; a mapping adds BusConfig fields."""
    name = f"stdlib-{uuid.uuid4().hex}"
    by_map = AuditHandler({"name": name, "asynchronous": False, "history_cap": 7})
    by_name = AuditHandler(name)
    try:
        assert by_map.bus is by_name.bus is get_bus(name)
        assert by_map.bus.config.history_cap == 7
    finally:
        by_map.bus.close()


def test_bad_bus_argument_is_rejected() -> None:
    """A bus that is neither Bus, str nor mapping is a TypeError."""
    with pytest.raises(TypeError):
        AuditHandler(3)  # type: ignore[arg-type]


def test_structlog_wrapped_record_maps_the_event_dict(bus: Bus, rec: Recorder) -> None:
    """A record whose msg is a structlog event dict uses its event and keys."""
    log = _logger(AuditHandler(bus))
    log.warning({"event": "quota", "user": "u1", "request_id": "r-7", "level": "warning"})
    evt = rec.events[0]
    assert (evt.type, evt.context_id) == ("log_warning", "r-7")
    assert evt.payload == {"message": "quota", "fields": {"user": "u1"}}


def test_async_bus_delivery(rec: Recorder) -> None:
    """Through an asynchronous bus the record arrives after flush."""
    with Bus(lifecycle_events=False) as async_bus:
        r = Recorder()
        async_bus.subscribe("*", r, name="r")
        _logger(AuditHandler(async_bus)).info("later")
        assert async_bus.flush(10)
        assert [e.payload["message"] for e in r.events] == ["later"]


def test_exc_info_tuple_outside_except(bus: Bus, rec: Recorder) -> None:
    """An explicit ``exc_info`` tuple works outside an ``except`` block too."""
    try:
        raise KeyError("k")
    except KeyError:
        info = sys.exc_info()
    _logger(AuditHandler(bus)).error("late", exc_info=info)
    assert rec.events[0].payload["error"] == "KeyError: 'k'"


def test_structlog_record_type_follows_the_level_number(bus: Bus, rec: Recorder) -> None:
    """A structlog dict logged at a custom low level still maps by level number."""
    logging.addLevelName(5, "TRACE")
    _logger(AuditHandler(bus)).log(5, {"event": "deep"})
    assert rec.events[0].type == "log_debug"


def test_extra_is_copied_when_logged_not_when_delivered(bus: Bus, rec: Recorder) -> None:
    """Mutating an ``extra`` value after the log call leaves the published event as it was."""
    card: dict[str, Any] = {"last4": "4242", "tags": ["a"]}
    _logger(AuditHandler(bus)).info("paid", extra={"card": card})
    card["last4"] = "0000"
    card["tags"].append("b")
    assert rec.events[0].payload["fields"] == {"card": {"last4": "4242", "tags": ["a"]}}


def test_nested_extra_reaches_the_file_typed_and_redacted(tmp_path: Path) -> None:
    """Through a real bus and file sink: native JSON types stored, nested secrets masked."""
    path = tmp_path / "audit.jsonl"
    with Bus(lifecycle_events=False) as async_bus:
        async_bus.subscribe(EVENT_ANY, RotatingJSONFileHandler(str(path)), name="file")
        extra: dict[str, Any] = {
            "amount": 12.5,
            "count": 3,
            "ok": True,
            "none": None,
            "price": Decimal("9.99"),
            "card": {"cvv": "123", "last4": "4242", "brand": "visa"},
            "auth": {"password": "x"},
            "users": [{"name": "ann", "password": "hunter2"}, {"name": "bob", "token": "t0k3n"}],
            "dsn": {"url": "postgresql://app:s3cr3t@db/prod"},
        }
        _logger(AuditHandler(async_bus)).warning("payment", extra=extra)
        extra["card"]["cvv"] = "changed"  # after the call: not in the stored event
        assert async_bus.flush(10)
    raw = path.read_bytes()
    (line,) = raw.splitlines()
    fields = json.loads(line)["payload"]["fields"]
    assert fields == {
        "amount": 12.5,
        "count": 3,
        "ok": True,
        "none": None,
        "price": "9.99",
        "card": {"cvv": "****", "last4": "4242", "brand": "visa"},
        "auth": "****",
        "users": [{"name": "ann", "password": "****"}, {"name": "bob", "token": "****"}],
        "dsn": {"url": "postgresql://app:****@db/prod"},
    }
    for secret in (b"123", b"hunter2", b"t0k3n", b"s3cr3t", b"changed"):
        assert secret not in raw
