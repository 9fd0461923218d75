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
  ``extra={"error": ...}``; also on ``log_fatal`` when there is one), the text
  masked for secrets; a traceback (never
  locals) only when asked for;
- every other ``extra`` key becomes a ``fields`` entry keeping its JSON type
  (numbers, booleans, lists, nested dicts), copied on the logging thread by
  :func:`audit_logging._model.fieldvalues.field_map`: bounded, with the encoder's
  fallback for what JSON cannot hold, and a request object such as Django's
  ``HttpRequest`` becomes ``"METHOD /path"``, never its cookies or headers (at any
  depth). The bus's sanitizer then masks secrets by key at any depth
  (``extra={"card": {"cvv": ...}}``);
- the source is the logger name; the context id comes from ``extra={"context_id": ...}``
  or the bound one; the span from the ``otelTraceID``/``otelSpanID`` attributes that
  opentelemetry-instrumentation-logging sets, else the current span.
"""

from __future__ import annotations

import datetime as _dt
import logging
import sys
import traceback as _traceback
from itertools import islice as _islice
from typing import Any

from opentelemetry.trace import SpanContext, TraceFlags

from audit_logging._accel import accelerator
from audit_logging._model.context import _context_id, get_context_id
from audit_logging._model.encoding import _safe_str
from audit_logging._model.event import Event, EventType, current_span_context
from audit_logging._model.fieldvalues import MAX_FIELD_ITEMS, field_map, request_text
from audit_logging._model.ids import uuid7_str
from audit_logging._model.scope import _scope as _scope_var
from audit_logging._security.textmask import mask_secrets_in_text

__all__ = [
    "LEVEL_TYPES",
    "event_dict_to_event",
    "event_to_record",
    "exception_text",
    "field_text",
    "level_event_type",
    "record_to_event",
    "span_from_record",
    "traceback_text",
]

_UTC = _dt.UTC

_STANDARD_ATTRS = frozenset(
    logging.LogRecord("", 0, "", 0, "", None, None).__dict__.keys()
    | {"message", "asctime", "taskName"}
)
_N_STANDARD = len(logging.LogRecord("", 0, "", 0, "", None, None).__dict__)
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


def span_from_record(record: logging.LogRecord) -> SpanContext | None:
    """
    The span opentelemetry-instrumentation-logging put on the record (``otelTraceID``/
    ``otelSpanID``), or None when absent or invalid.
    """
    trace_hex = getattr(record, "otelTraceID", None)
    if trace_hex is None:
        return None
    span_hex = getattr(record, "otelSpanID", None)
    if not isinstance(trace_hex, str) or not isinstance(span_hex, str):
        return None
    try:
        trace_id, span_id = int(trace_hex, 16), int(span_hex, 16)
    except ValueError:
        return None
    if not trace_id or not span_id or trace_id >> 128 or span_id >> 64:
        return None
    return SpanContext(
        trace_id, span_id, is_remote=True, trace_flags=TraceFlags(TraceFlags.SAMPLED)
    )


def exception_text(exc: BaseException) -> str:
    """
    ``"Type: message"`` for an exception, with secrets in the message masked.

    Exception messages routinely carry DSNs, SQL literals and tokens, so
    only the type and the masked message are kept; never the locals.
    """
    return mask_secrets_in_text(f"{type(exc).__name__}: {_safe_str(exc)}")


def traceback_text(exc: BaseException) -> str:
    """
    The formatted traceback of ``exc`` (no locals), with secrets masked.
    """
    try:
        text = "".join(_traceback.format_exception(exc))
    except Exception:  # pragma: no cover - formatting a broken exception
        text = exception_text(exc)
    return mask_secrets_in_text(_safe_str(text))


def _error_text(record: logging.LogRecord) -> str:
    exc = record.exc_info[1] if record.exc_info else None
    if exc is not None:
        return exception_text(exc)
    err = getattr(record, "error", None)
    if err is None:
        return ""
    if isinstance(err, BaseException):
        return exception_text(err)
    return mask_secrets_in_text(_safe_str(err))


def _event(  # noqa: PLR0917 - mirrors Event's positional fields
    event_type: str,
    source: str,
    payload: Any,
    context_id: str,
    created: _dt.datetime,
    span: SpanContext,
) -> Event[Any]:
    """
    The event, with the actor and origin bound where the record was made.
    """
    scope = _scope_var.get()
    if scope is None:
        return Event(event_type, source, payload, context_id, uuid7_str(), created, span)
    return Event(
        event_type,
        source,
        payload,
        context_id,
        uuid7_str(),
        created,
        span,
        scope.actor,
        scope.origin,
    )


def field_text(value: object) -> str:
    """
    A value that must be text (a structlog ``event`` used as the message) as a string.

    An HTTP request object (Django's ``HttpRequest``, anything with a string
    ``method`` and ``path`` or ``url.path``) becomes ``"METHOD /path"`` only: its
    ``str()`` would show the query string, and its other attributes hold cookies
    and ``Authorization`` headers. ``fields`` values are not text: see
    :func:`audit_logging._model.fieldvalues.field_map`.
    """
    if isinstance(value, str):
        return value if value.isascii() else _safe_str(value)
    kind = type(value)
    if kind is int or kind is float or kind is bool:
        return str(value)
    request = request_text(value)
    return _safe_str(value) if request is None else request


def _extra_keys(record: logging.LogRecord) -> list[str]:
    """
    The non-standard attributes of ``record`` (``extra`` keys and the like), in order.

    ``LogRecord.__init__`` sets the standard attributes first (``name`` first)
    and ``makeRecord`` adds ``extra`` after them, so only the tail of
    ``__dict__`` needs a look; a record built any other way gets the full scan.
    The order is the order the caller gave, so ``fields`` keep it.
    """
    data = record.__dict__
    if len(data) <= _N_STANDARD:
        return []
    if next(iter(data)) != "name":
        return [key for key in data if key not in _STANDARD_ATTRS]
    return [key for key in _islice(data, _N_STANDARD, None) if key not in _STANDARD_ATTRS]


def record_to_event(
    record: logging.LogRecord,
    source: str | None = None,
    *,
    include_traceback: bool = False,
) -> Event[Any]:
    """
    Build the event a record stands for (see the module docstring for the mapping).

    Args:
        record: the record, read in full in the calling thread.
        source: the event source; ``None`` = the logger name.
        include_traceback: add a masked ``traceback`` (no locals) to ``log_error``
            and ``log_fatal`` payloads of records with ``exc_info``.
    """
    if _fast_record_to_event is not None:
        fast: Event[Any] | None = _fast_record_to_event(record, source)
        if fast is not None:
            return fast
    extra = _extra_keys(record)
    if extra:
        evt = getattr(record, "audit_event", None)
        if isinstance(evt, Event):
            return evt
    context_id = getattr(record, "context_id", None) if extra else None
    if not isinstance(context_id, str):
        context_id = get_context_id()
    span = span_from_record(record) if extra else None
    if span is None:
        span = current_span_context()
    src = record.name if source is None else source
    created = _dt.datetime.fromtimestamp(record.created, _UTC)
    event_type = getattr(record, "event_type", None) if extra else None
    if isinstance(event_type, str) and event_type:
        domain_payload = getattr(record, "payload", None)
        return _event(event_type, src, domain_payload, context_id, created, span)
    event_type = level_event_type(record.levelno)
    is_error = event_type == EventType.LOG_ERROR
    error = _error_text(record) if is_error or event_type == EventType.LOG_FATAL else ""
    fields: dict[str, Any] = {}
    if extra:
        drop = _SPECIAL_EXTRA | {"error"} if error or is_error else _SPECIAL_EXTRA
        data = record.__dict__
        extra = [key for key in extra if key not in drop]
        fields = field_map({key: data[key] for key in extra})
    message = record.getMessage()
    if type(message) is not str or not message.isascii():
        message = _safe_str(message)
    payload: dict[str, Any] = {"message": message, "fields": fields}
    if error or is_error:
        payload["error"] = error
    if include_traceback and record.exc_info and record.exc_info[1] is not None:
        payload["traceback"] = traceback_text(record.exc_info[1])
    return _event(event_type, src, payload, context_id, created, span)


def _configure_accelerator() -> Any:
    """
    Hand the compiled ``record_to_event`` the objects of this module's reference path.

    It takes the common case (a plain ``LogRecord`` below ERROR, plain extra values,
    no special extra keys) and answers None for the rest, which this module maps.
    """
    if accelerator is None:
        return None
    accelerator.configure(
        record_type=logging.LogRecord,
        event_type=Event,
        standard=_STANDARD_ATTRS,
        special=_SPECIAL_EXTRA,
        context_var=_context_id,
        scope_var=_scope_var,
        span_func=current_span_context,
        uuid_func=uuid7_str,
        safe_str=_safe_str,
        utc=_UTC,
        types=(EventType.LOG_DEBUG, EventType.LOG_INFO, EventType.LOG_WARNING),
        n_standard=_N_STANDARD,
        max_items=MAX_FIELD_ITEMS,
    )
    return accelerator.record_to_event


_fast_record_to_event = _configure_accelerator()


_METHOD_TYPES: dict[str, str] = {
    "debug": EventType.LOG_DEBUG,
    "info": EventType.LOG_INFO,
    "msg": EventType.LOG_INFO,
    "log": EventType.LOG_INFO,
    "warning": EventType.LOG_WARNING,
    "warn": EventType.LOG_WARNING,
    "error": EventType.LOG_ERROR,
    "exception": EventType.LOG_ERROR,
    "critical": EventType.LOG_FATAL,
    "fatal": EventType.LOG_FATAL,
}
"""structlog method (or level) names to log event types."""

_DICT_META = frozenset(
    {
        "event",
        "event_type",
        "payload",
        "level",
        "timestamp",
        "logger",
        "logger_name",
        "context_id",
        "request_id",
        "exc_info",
        "exception",
        "stack",
        "stack_info",
        "_record",
        "_from_structlog",
    }
)
"""Event-dict keys that are structlog metadata or mapped specially, never ``fields``."""


def _exception_entry_text(entry: Any) -> str:
    """
    ``"Type: message"`` from one ``dict_tracebacks`` entry, ignoring its frames and locals.
    """
    exc_type = entry.get("exc_type", "") if isinstance(entry, dict) else ""
    exc_value = entry.get("exc_value", "") if isinstance(entry, dict) else ""
    return mask_secrets_in_text(f"{_safe_str(exc_type)}: {_safe_str(exc_value)}")


def _dict_error(event_dict: dict[str, Any], exc: BaseException | None) -> str:
    if exc is None:
        exc_info = event_dict.get("exc_info")
        if isinstance(exc_info, BaseException):
            exc = exc_info
        elif isinstance(exc_info, tuple) and len(exc_info) == 3:
            exc = exc_info[1] if isinstance(exc_info[1], BaseException) else None
        elif exc_info is True:
            exc = sys.exc_info()[1]
    if exc is not None:
        return exception_text(exc)
    rendered = event_dict.get("exception")
    if isinstance(rendered, str) and rendered.strip():
        # format_exc_info's text: the last line is "Type: message"; frames are dropped.
        return mask_secrets_in_text(_safe_str(rendered.strip().splitlines()[-1]))
    if isinstance(rendered, list) and rendered:
        # dict_tracebacks: a list of {"exc_type", "exc_value", "frames": [... locals ...]}.
        return _exception_entry_text(rendered[-1])
    err = event_dict.get("error")
    if isinstance(err, BaseException):
        return exception_text(err)
    return "" if err is None else mask_secrets_in_text(_safe_str(err))


def event_dict_to_event(
    event_dict: dict[str, Any],
    method_name: str,
    source: str,
    *,
    exc: BaseException | None = None,
    context_id: str | None = None,
    include_traceback: bool = False,
    log_type: str | None = None,
) -> Event[Any]:
    """
    Build the event for a structlog event dict.

    ``event_type`` in the dict makes a domain event whose payload is
    ``event_dict["payload"]`` or else the keys that are not structlog metadata;
    otherwise ``method_name`` picks the log event, ``event`` is the message, the
    other keys become ``fields`` keeping their JSON types (a bounded copy, see
    :func:`audit_logging._model.fieldvalues.field_map`) and ``exc_info``/``exception`` (text or
    ``dict_tracebacks`` entries) become ``error`` as ``"Type: message"`` only:
    frames and their locals never reach the event. The context id is the dict's
    ``context_id`` or ``request_id``, else ``context_id``, else the bound one.
    ``log_type`` overrides the type picked from ``method_name`` (a stdlib record's
    level number is more precise than its level name).
    """
    bound = event_dict.get("context_id")
    if not isinstance(bound, str) or not bound:
        bound = event_dict.get("request_id")
    if isinstance(bound, str) and bound:
        context_id = bound
    if context_id is None:
        context_id = get_context_id()
    span = current_span_context()
    now = _dt.datetime.now(_UTC)
    event_type = event_dict.get("event_type")
    if isinstance(event_type, str) and event_type:
        if "payload" in event_dict:
            payload: Any = event_dict["payload"]
        else:
            payload = {k: v for k, v in event_dict.items() if k not in _DICT_META}
        return _event(event_type, source, payload, context_id, now, span)
    if log_type is None:
        log_type = _METHOD_TYPES.get(method_name.lower(), EventType.LOG_INFO)
    is_error = log_type == EventType.LOG_ERROR
    error = _dict_error(event_dict, exc) if is_error or log_type == EventType.LOG_FATAL else ""
    fields = field_map(
        {
            key: value
            for key, value in event_dict.items()
            if key not in _DICT_META and not (key == "error" and (error or is_error))
        }
    )
    message = event_dict.get("event", "")
    log_payload: dict[str, Any] = {
        "message": field_text(message) if message is not None else "",
        "fields": fields,
    }
    if error or is_error:
        log_payload["error"] = error
    if include_traceback and exc is not None:
        log_payload["traceback"] = traceback_text(exc)
    return _event(log_type, source, log_payload, context_id, now, span)


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
