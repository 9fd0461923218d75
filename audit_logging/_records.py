"""
Turning :class:`logging.LogRecord` objects into events, and events into records.

Both directions live here because both the bus (which hands events to plain
``logging.Handler`` subscribers) and the sinks (which, attached to an ordinary
logger, store its records) need them, and neither may import the other.

Record -> event mapping (the whole record is read in the thread that logged it):

- ``record.audit_event`` (``extra={"audit_event": evt}``) is published as it is;
- ``extra={"event_type": t, "payload": {...}}`` becomes a domain event of type ``t``;
- otherwise the level picks the log event: DEBUG -> ``log_debug``, INFO -> ``log_info``,
  WARNING -> ``log_warning``, ERROR -> ``log_error``, CRITICAL -> ``log_fatal``
  (levels in between round down); the payload is ``{"message", "fields"}`` plus
  ``"error"`` for ``log_error`` (from ``exc_info`` as ``"Type: message"`` or
  ``extra={"error": ...}``);
- every other ``extra`` key becomes a ``fields`` entry with a string value (the Go
  ``map[string]string``); the source is the logger name; the context id comes from
  ``extra={"context_id": ...}`` or the bound one; the span from the current
  OpenTelemetry span or the ``otelTraceID``/``otelSpanID`` attributes that
  opentelemetry-instrumentation-logging sets.
"""

from __future__ import annotations

import logging
from typing import Any

from opentelemetry.trace import SpanContext, TraceFlags

from audit_logging._encoding import _safe_str
from audit_logging.events import Event, EventType, current_span_context, new_event

__all__ = ["LEVEL_TYPES", "event_to_record", "record_to_event"]

_STANDARD_ATTRS = frozenset(
    logging.LogRecord("", 0, "", 0, "", None, None).__dict__.keys()
    | {"message", "asctime", "taskName"}
)
_SPECIAL_EXTRA = frozenset(
    {
        "audit_event",
        "event_type",
        "payload",
        "context_id",
        "otelTraceID",
        "otelSpanID",
        "otelTraceSampled",
        "otelServiceName",
    }
)

LEVEL_TYPES: tuple[tuple[int, str], ...] = (
    (logging.CRITICAL, EventType.LOG_FATAL),
    (logging.ERROR, EventType.LOG_ERROR),
    (logging.WARNING, EventType.LOG_WARNING),
    (logging.INFO, EventType.LOG_INFO),
)
"""Level thresholds to log event types, highest first; below INFO is ``log_debug``."""

_TYPE_LEVELS: dict[str, int] = {
    EventType.LOG_DEBUG: logging.DEBUG,
    EventType.LOG_INFO: logging.INFO,
    EventType.LOG_WARNING: logging.WARNING,
    EventType.LOG_ERROR: logging.ERROR,
    EventType.LOG_FATAL: logging.CRITICAL,
    EventType.LOG_ASSERTION_FAILED: logging.ERROR,
}


def level_event_type(levelno: int) -> str:
    """
    The log event type for a logging level.
    """
    for threshold, event_type in LEVEL_TYPES:
        if levelno >= threshold:
            return event_type
    return EventType.LOG_DEBUG


def _span_from_record(record: logging.LogRecord) -> SpanContext | None:
    trace_hex = getattr(record, "otelTraceID", None)
    span_hex = getattr(record, "otelSpanID", None)
    if not isinstance(trace_hex, str) or not isinstance(span_hex, str):
        return None
    try:
        trace_id, span_id = int(trace_hex, 16), int(span_hex, 16)
    except ValueError:
        return None
    if not trace_id or not span_id:
        return None
    return SpanContext(
        trace_id, span_id, is_remote=True, trace_flags=TraceFlags(TraceFlags.SAMPLED)
    )


def _error_text(record: logging.LogRecord) -> str:
    exc = record.exc_info[1] if record.exc_info else None
    if exc is not None:
        return f"{type(exc).__name__}: {_safe_str(exc)}"
    err = getattr(record, "error", None)
    if err is None:
        return ""
    if isinstance(err, BaseException):
        return f"{type(err).__name__}: {_safe_str(err)}"
    return _safe_str(err)


def record_to_event(record: logging.LogRecord, source: str | None = None) -> Event[Any]:
    """
    Build the event a record stands for (see the module docstring for the mapping).
    """
    evt = getattr(record, "audit_event", None)
    if isinstance(evt, Event):
        return evt
    context_id = getattr(record, "context_id", None)
    if not isinstance(context_id, str):
        context_id = None
    span = _span_from_record(record)
    if span is None:
        current = current_span_context()
        span = current if current.is_valid else None
    src = record.name if source is None else source
    event_type = getattr(record, "event_type", None)
    if isinstance(event_type, str) and event_type:
        domain_payload = getattr(record, "payload", None)
        return new_event(event_type, src, domain_payload, context_id=context_id, span_context=span)
    event_type = level_event_type(record.levelno)
    skip = {"error"} if event_type == EventType.LOG_ERROR else set()
    fields = {
        key: _safe_str(value)
        for key, value in record.__dict__.items()
        if key not in _STANDARD_ATTRS and key not in _SPECIAL_EXTRA and key not in skip
    }
    payload: dict[str, Any] = {"message": _safe_str(record.getMessage()), "fields": fields}
    if event_type == EventType.LOG_ERROR:
        payload["error"] = _error_text(record)
    return new_event(event_type, src, payload, context_id=context_id, span_context=span)


def event_to_record(evt: Event[Any]) -> logging.LogRecord:
    """
    Build the record handed to a plain ``logging.Handler`` subscriber.

    ``msg`` is the message of a log event (else the type), the level follows the
    log type (INFO otherwise) and ``record.audit_event`` is the event itself.
    """
    payload = evt.payload
    message = payload.get("message") if isinstance(payload, dict) else None
    if message is None:
        message = getattr(payload, "message", None)
    level = _TYPE_LEVELS.get(evt.type, logging.INFO)
    record = logging.LogRecord(
        name=evt.source or "audit",
        level=level,
        pathname="",
        lineno=0,
        msg=message if isinstance(message, str) else evt.type,
        args=None,
        exc_info=None,
    )
    record.created = evt.time.timestamp()
    record.audit_event = evt
    return record
