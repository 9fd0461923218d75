"""
Tests for audit_logging._bridges.processor.AuditProcessor with real structlog.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog

from audit_logging.bus import Bus
from audit_logging.events import EVENT_ANY
from audit_logging.sinks.file import RotatingJSONFileHandler
from audit_logging.stdlib import AuditHandler
from audit_logging.structlog import AuditProcessor
from tests._helpers import Recorder


@pytest.fixture(autouse=True)
def clean_contextvars() -> Iterator[None]:
    """No structlog context leaks between tests."""
    structlog.contextvars.clear_contextvars()
    yield
    structlog.contextvars.clear_contextvars()


def _log(bus: Bus, *extra: Any, source: str | None = None) -> Any:
    processors: list[Any] = [
        structlog.contextvars.merge_contextvars,
        *extra,
        AuditProcessor(bus, source=source),
        structlog.processors.JSONRenderer(),
    ]
    return structlog.wrap_logger(structlog.ReturnLogger(), processors=processors)


@pytest.mark.parametrize(
    ("method", "event_type"),
    [
        ("debug", "log_debug"),
        ("info", "log_info"),
        ("warning", "log_warning"),
        ("error", "log_error"),
        ("critical", "log_fatal"),
        ("fatal", "log_fatal"),
    ],
)
def test_methods_map_to_log_events(bus: Bus, rec: Recorder, method: str, event_type: str) -> None:
    """Each structlog method name becomes its log event type."""
    getattr(_log(bus), method)("hello", user="u1")
    evt = rec.events[0]
    assert evt.type == event_type
    assert evt.payload["message"] == "hello"
    assert evt.payload["fields"] == {"user": "u1"}


def test_event_dict_passes_through_unchanged(bus: Bus, rec: Recorder) -> None:
    """The processor returns the dict it got, so the renderer still sees it."""
    processor = AuditProcessor(bus, source="s")
    event_dict = {"event": "x", "n": 1}
    assert processor(None, "info", event_dict) is event_dict
    assert event_dict == {"event": "x", "n": 1}


def test_bound_request_id_is_the_context_id(bus: Bus, rec: Recorder) -> None:
    """A request_id bound with structlog.contextvars becomes the context id."""
    structlog.contextvars.bind_contextvars(request_id="req-42")
    _log(bus).info("hi")
    assert rec.events[0].context_id == "req-42"
    assert "request_id" not in rec.events[0].payload["fields"]


def test_contextvars_read_even_without_merge(bus: Bus, rec: Recorder) -> None:
    """A bound context_id counts even if merge_contextvars is not in the chain."""
    structlog.contextvars.bind_contextvars(context_id="ctx-1")
    log = structlog.wrap_logger(structlog.ReturnLogger(), processors=[AuditProcessor(bus)])
    log.info("hi")
    assert rec.events[0].context_id == "ctx-1"


def test_event_type_makes_domain_event_with_remaining_keys(bus: Bus, rec: Recorder) -> None:
    """With ``event_type`` the other non-metadata keys are the payload."""
    _log(bus, structlog.processors.TimeStamper()).info(
        "login", event_type="auth_login", user_id="u1"
    )
    evt = rec.events[0]
    assert (evt.type, evt.payload) == ("auth_login", {"user_id": "u1"})


def test_event_type_with_explicit_payload(bus: Bus, rec: Recorder) -> None:
    """``payload`` in the dict is used as the domain payload."""
    _log(bus).info("x", event_type="user_deleted", payload={"user_id": "u2"}, other=1)
    assert rec.events[0].payload == {"user_id": "u2"}


def test_exception_is_type_and_masked_message(bus: Bus, rec: Recorder) -> None:
    """log.exception gives ``"Type: message"`` with the secret masked."""
    try:
        raise ValueError("login failed password=s3cr3t")
    except ValueError:
        _log(bus).exception("failed")
    payload = rec.events[0].payload
    assert payload["error"] == "ValueError: login failed password=****"


def test_rendered_exception_keeps_only_last_line(bus: Bus, rec: Recorder) -> None:
    """After format_exc_info only the ``Type: message`` line is kept."""
    token = "s3cr3t"  # a local in the rendered frames
    try:
        raise RuntimeError(f"api_key={token}")
    except RuntimeError:
        _log(bus, structlog.processors.format_exc_info).error("boom", exc_info=True)
    assert rec.events[0].payload["error"] == "RuntimeError: api_key=****"


def test_dict_tracebacks_locals_never_reach_the_event(bus: Bus, rec: Recorder) -> None:
    """dict_tracebacks (locals on by default) contributes only type and message."""
    secret = "s3cr3t"  # noqa: F841 - a local dict_tracebacks would show
    try:
        raise KeyError("missing")
    except KeyError:
        _log(bus, structlog.processors.dict_tracebacks).error("boom", exc_info=True)
    evt = rec.events[0]
    assert evt.payload["error"] == "KeyError: 'missing'"
    assert b"s3cr3t" not in evt.to_json_bytes()


def test_source_from_logger_key_or_argument(bus: Bus, rec: Recorder) -> None:
    """The ``logger`` key names the source unless ``source`` is given."""
    AuditProcessor(bus)(None, "info", {"event": "a", "logger": "svc.api"})
    AuditProcessor(bus, source="fixed")(None, "info", {"event": "b", "logger": "svc.api"})
    assert [e.source for e in rec.events] == ["svc.api", "fixed"]


def test_publish_failure_never_raises(bus: Bus) -> None:
    """A closed bus or broken value does not break the caller's logging."""
    bus.close()
    event_dict = {"event": "x"}
    assert AuditProcessor(bus)(None, "info", event_dict) is event_dict


def test_stdlib_integration_with_processor_formatter(bus: Bus, rec: Recorder) -> None:
    """Through wrap_for_formatter the AuditHandler sees and maps the event dict."""
    name = f"test_structlog.{uuid.uuid4().hex[:8]}"
    handler = AuditHandler(bus)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[structlog.dev.ConsoleRenderer(colors=False)]
        )
    )
    std = logging.getLogger(name)
    std.handlers[:] = [handler]
    std.propagate = False
    std.setLevel(logging.DEBUG)
    log = structlog.wrap_logger(
        std,
        wrapper_class=structlog.stdlib.BoundLogger,
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.stdlib.add_log_level,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
    )
    structlog.contextvars.bind_contextvars(request_id="r-9")
    log.warning("quota exceeded", user="u1")
    evt = rec.events[0]
    assert (evt.type, evt.source, evt.context_id) == ("log_warning", name, "r-9")
    assert evt.payload == {"message": "quota exceeded", "fields": {"user": "u1"}}


def test_keys_keep_their_json_types_and_nested_secrets_are_masked(bus: Bus, rec: Recorder) -> None:
    """structlog values stay numbers, booleans, lists and dicts; the bus masks nested secrets."""
    items = [{"sku": "a", "qty": 2}]
    _log(bus).info("order", amount=12.5, paid=True, items=items, card={"cvv": "123", "last4": "42"})
    items[0]["qty"] = 99  # after the call: the event holds its own copy
    assert rec.events[0].payload["fields"] == {
        "amount": 12.5,
        "paid": True,
        "items": [{"sku": "a", "qty": 2}],
        "card": {"cvv": "****", "last4": "42"},
    }


def test_typed_keys_reach_the_file_through_a_real_bus(tmp_path: Path) -> None:
    """End to end: the stored line holds the native types and no nested secret."""
    path = tmp_path / "audit.jsonl"
    with Bus(lifecycle_events=False) as async_bus:
        async_bus.subscribe(EVENT_ANY, RotatingJSONFileHandler(str(path)), name="file")
        log = _log(async_bus)
        log.warning("login", attempt=3, auth={"user": "ann", "password": "hunter2"}, ok=False)
        assert async_bus.flush(10)
    raw = path.read_bytes()
    assert json.loads(raw)["payload"] == {
        "message": "login",
        "fields": {"attempt": 3, "auth": "****", "ok": False},
    }
    assert b"hunter2" not in raw
