"""
An audit event as an OpenTelemetry log record: what goes where, and why.

OpenTelemetry models an *event* as a log record with an ``event_name``; its body
carries the event's own data and its attributes the context, named by the
semantic conventions so a backend's views (users, clients, routes) find them
without a mapping of ours:

=====================================  ===========================================
canonical event                        OpenTelemetry log record
=====================================  ===========================================
``type``                               ``event_name``
``time``                               ``timestamp`` (ns); ``observed_timestamp`` = export time
``trace_id`` / ``span_id`` / flags     the record's trace id, span id and trace flags
``id``                                 attribute ``log.record.uid``
``source``                             attribute ``audit.source``
``context_id``                         attribute ``audit.context_id``
``actor.user_id`` / ``username``       ``user.id`` / ``user.name``
``actor.auth_method``                  ``audit.actor.auth_method``
``origin.client_ip``                   ``client.address``
``origin.user_agent``                  ``user_agent.original``
``origin.method`` / ``path``           ``http.request.method`` / ``url.path``
``origin.route`` / ``query``           ``http.route`` / ``url.query``
``payload``                            ``body`` (a map: nothing is lost)
payload ``status`` / ``duration_ms``   also ``http.response.status_code`` / ``audit.duration_ms``
payload ``method`` / ``path``          also ``http.request.method`` / ``url.path`` (no origin bound)
payload ``user_id`` / ``email``        also ``user.id`` (no actor bound) / ``user.email``
payload ``error``                      also ``exception.message``
log types ``log_debug`` ... ``log_fatal``  severity DEBUG/INFO/WARN/ERROR/FATAL (INFO otherwise)
=====================================  ===========================================

Empty strings are left out (an attribute says something or is absent). The body
is the payload after the canonical fallback encoding
(:func:`~audit_logging._model.encoding.make_safe`), and integers beyond 64 bits
become strings: OTLP's ``AnyValue`` holds int64 only, and one value the encoder
refused would fail the whole batch, every time it is replayed.
"""

from __future__ import annotations

import math
from typing import Any

from opentelemetry._logs import LogRecord, SeverityNumber
from opentelemetry.context import Context
from opentelemetry.trace import INVALID_SPAN, NonRecordingSpan, SpanContext, set_span_in_context

from audit_logging._model.encoding import make_safe
from audit_logging._model.event import Event

__all__ = [
    "RECORD_UID",
    "SEVERITIES",
    "SpanContexts",
    "body_of",
    "event_attributes",
    "to_log_record",
]

RECORD_UID = "log.record.uid"
"""The attribute holding the event id (how a failed batch is mapped back to its events)."""

SEVERITIES: dict[str, tuple[SeverityNumber, str]] = {
    "log_debug": (SeverityNumber.DEBUG, "DEBUG"),
    "log_info": (SeverityNumber.INFO, "INFO"),
    "log_warning": (SeverityNumber.WARN, "WARN"),
    "log_error": (SeverityNumber.ERROR, "ERROR"),
    "log_fatal": (SeverityNumber.FATAL, "FATAL"),
}
_INFO = (SeverityNumber.INFO, "INFO")
_INT64 = (-(2**63), 2**63 - 1)
_NO_SPAN = set_span_in_context(INVALID_SPAN, Context())

_PAYLOAD_ATTRIBUTES = (
    ("status", "http.response.status_code"),
    ("duration_ms", "audit.duration_ms"),
    ("email", "user.email"),
    ("error", "exception.message"),
)
_HTTP_PAYLOAD = (("method", "http.request.method"), ("path", "url.path"))


def _any_value(value: Any) -> Any:
    """
    A JSON-safe value as OTLP can hold it (ints beyond int64 as text).
    """
    if isinstance(value, int) and not isinstance(value, bool):
        return value if _INT64[0] <= value <= _INT64[1] else str(value)
    if isinstance(value, dict):
        return {k: _any_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_any_value(v) for v in value]
    return value


def body_of(evt: Event[Any]) -> Any:
    """
    The record body: the payload as plain JSON types OTLP can encode.
    """
    payload = evt.payload
    if payload is None:
        return None
    if (
        payload.__class__ is dict
        and all(_plain(v) for v in payload.values())
        and all(k.__class__ is str for k in payload)
    ):
        return dict(payload)  # the common case: flat text and numbers, nothing to convert
    return _any_value(make_safe(payload, 1))


def _plain(value: object) -> bool:
    cls = value.__class__
    if cls is str:
        return bool(value.isascii())  # type: ignore[attr-defined]  # lone surrogates: slow path
    if cls is int:
        return _INT64[0] <= value <= _INT64[1]  # type: ignore[operator]
    return cls is bool or value is None or (cls is float and math.isfinite(value))  # type: ignore[arg-type]


def _put(attrs: dict[str, Any], key: str, value: object) -> None:
    if value is not None and value != "":
        attrs[key] = value


def _attribute_value(value: object) -> Any:
    if isinstance(value, bool | str | float):
        return value
    if isinstance(value, int):
        return _any_value(value)
    return None if value is None else str(value)


def event_attributes(evt: Event[Any], body: Any) -> dict[str, Any]:
    """
    The record attributes: the event id first, then context named as the semantic conventions say.
    """
    attrs: dict[str, Any] = {RECORD_UID: evt.id}
    _put(attrs, "audit.source", evt.source)
    _put(attrs, "audit.context_id", evt.context_id)
    actor, origin = evt.actor, evt.origin
    if actor is not None:
        _put(attrs, "user.id", actor.user_id)
        _put(attrs, "user.name", actor.username)
        _put(attrs, "audit.actor.auth_method", actor.auth_method)
    if origin is not None:
        _put(attrs, "client.address", origin.client_ip)
        _put(attrs, "user_agent.original", origin.user_agent)
        _put(attrs, "http.request.method", origin.method)
        _put(attrs, "url.path", origin.path)
        _put(attrs, "http.route", origin.route)
        _put(attrs, "url.query", origin.query)
    if isinstance(body, dict):
        for key, name in _PAYLOAD_ATTRIBUTES:
            if key in body:
                _put(attrs, name, _attribute_value(body[key]))
        if "user.id" not in attrs and "user_id" in body:
            _put(attrs, "user.id", _attribute_value(body["user_id"]))
        if origin is None:
            for key, name in _HTTP_PAYLOAD:
                if key in body:
                    _put(attrs, name, _attribute_value(body[key]))
    return attrs


class SpanContexts:
    """
    The ``Context`` holding an event's span, reused while events share one span.
    """

    __slots__ = ("_context", "_span")

    def __init__(self) -> None:
        self._span: SpanContext | None = None
        self._context = _NO_SPAN

    def of(self, sc: SpanContext) -> Context:
        if not sc.is_valid:
            return _NO_SPAN
        if sc is not self._span:  # events of one request share their SpanContext
            self._context = set_span_in_context(NonRecordingSpan(sc), Context())
            self._span = sc
        return self._context


def to_log_record(evt: Event[Any], contexts: SpanContexts | None = None) -> LogRecord:
    """
    Build the OpenTelemetry (API) log record of one event.
    """
    severity, text = SEVERITIES.get(evt.type, _INFO)
    body = body_of(evt)
    sc = evt.span_context
    context = contexts.of(sc) if contexts is not None else SpanContexts().of(sc)
    return LogRecord(
        timestamp=round(evt.time.timestamp() * 1_000_000) * 1000,
        context=context,
        severity_text=text,
        severity_number=severity,
        body=body,
        attributes=event_attributes(evt, body),
        event_name=evt.type,
    )
