"""
The event model: :class:`Event` and its canonical dict / JSON form, the wire
format of files, spill and Kafka. :class:`EventType` is defined, with each type's
payload, in the catalog (:mod:`audit_logging._model.catalog`) and re-exported here.

Canonical form (one JSON object, keys in this order)::

    {"id", "type", "time", "source", "context_id", "trace_id", "span_id",
     ["trace_flags",] ["actor",] ["origin",] "payload"}

``time`` is RFC 3339 UTC with exactly six fractional digits and a ``Z``;
``trace_id``/``span_id`` are lower-case hex (32/16 chars) or ``""`` when the
event carries no valid span. The bracketed keys are written only when they say
something, so an event without them keeps the line it always had:
``trace_flags`` (two lower-case hex digits, W3C: ``"01"`` sampled, ``"00"`` not)
with a valid span; ``actor`` (``{"user_id", "username", "auth_method"}``) and
``origin`` (``{"client_ip", "user_agent", "method", "path", "route", "query"}``)
when one was bound while the event was built (:mod:`audit_logging._model.scope`);
they always hold every field, ``""`` where unknown. A line without
``trace_flags`` is read as sampled (what every earlier version meant). Payload
values JSON cannot hold are encoded by the fallback documented in
:mod:`audit_logging._model.encoding`.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import re
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from typing import Any, Generic, TypeVar

import orjson
from opentelemetry import trace as _trace
from opentelemetry.trace import INVALID_SPAN_CONTEXT, SpanContext, TraceFlags

from audit_logging._model import encoding as _encoding
from audit_logging._model.catalog import EventType
from audit_logging._model.context import _context_id as _context_id_var
from audit_logging._model.ids import uuid7_str
from audit_logging._model.scope import Actor, Origin, actor_from_dict, origin_from_dict
from audit_logging._model.scope import _scope as _scope_var

__all__ = ["EVENT_ANY", "Event", "EventType", "current_span_context", "new_event"]

P = TypeVar("P")

EVENT_ANY = "*"
"""Subscribe to every event type."""

_UTC = _dt.UTC
_UUID_TEXT = re.compile(
    r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
)
_HEX_TEXT = re.compile(r"[0-9a-fA-F]+")
_RFC3339_NAIVE = r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]+)?"
_RFC3339_NAIVE_TEXT = re.compile(_RFC3339_NAIVE)
_RFC3339_TEXT = re.compile(_RFC3339_NAIVE + r"(?:[Zz]|[+-][0-9]{2}:[0-9]{2})")


def _now() -> _dt.datetime:
    return _dt.datetime.now(_UTC)


def _otel_span_slot() -> tuple[Any, ContextVar[Any], str] | None:
    """
    (runtime context, its ContextVar, the span key) of OpenTelemetry's default context.

    ``get_current_span()`` is six Python calls deep; asking the ContextVar directly
    whether a span is set is one dict look-up, the common answer being "no span". Only
    the API's default ``contextvars`` runtime context is read this way (the one it has
    used since 1.0); anything else (a custom ``OTEL_PYTHON_CONTEXT``, an API without
    these names) takes the API's own path, as does every call that finds a span.
    """
    try:
        from opentelemetry import context as otel_context
        from opentelemetry.context.contextvars_context import ContextVarsRuntimeContext
        from opentelemetry.trace.propagation import _SPAN_KEY
    except ImportError:  # pragma: no cover - an API without these names
        return None
    runtime = getattr(otel_context, "_RUNTIME_CONTEXT", None)
    var = getattr(runtime, "_current_context", None)
    if type(runtime) is not ContextVarsRuntimeContext or not isinstance(var, ContextVar):
        return None
    if not isinstance(_SPAN_KEY, str):  # pragma: no cover - defensive
        return None
    return runtime, var, _SPAN_KEY


def _make_current_span_context() -> Any:
    slot = _otel_span_slot()
    if slot is None:

        def current_span_context() -> SpanContext:
            return _trace.get_current_span().get_span_context()

    else:
        from opentelemetry import context as otel_context

        runtime, var, key = slot

        def current_span_context() -> SpanContext:
            # The identity check keeps a runtime context swapped in later on the API path.
            if otel_context._RUNTIME_CONTEXT is runtime and var.get().get(key) is None:
                return INVALID_SPAN_CONTEXT
            return _trace.get_current_span().get_span_context()

    current_span_context.__doc__ = (
        "Return the current OpenTelemetry span context (``INVALID_SPAN_CONTEXT`` if none)."
    )
    return current_span_context


current_span_context: Callable[[], SpanContext] = _make_current_span_context()


@dataclasses.dataclass(frozen=True, slots=True, init=False)
class Event(Generic[P]):
    """
    One audit event.

    Immutable, so one instance can be handed to many handlers and kept in history
    without copies. ``payload`` is a dict for the untyped factories and a frozen
    dataclass for the ``*_t`` ones. ``id`` and ``time`` default to a new UUIDv7 and
    the current UTC time. ``actor`` and ``origin`` say who acted and from where;
    the factories and logging bridges take them from the bound scope
    (:mod:`audit_logging._model.scope`), a directly built ``Event`` has none
    unless given.
    """

    type: str
    source: str = ""
    payload: P | None = None
    context_id: str = ""
    id: str = dataclasses.field(default_factory=uuid7_str)
    time: _dt.datetime = dataclasses.field(default_factory=_now)
    span_context: SpanContext = INVALID_SPAN_CONTEXT
    actor: Actor | None = None
    origin: Origin | None = None

    def __init__(  # noqa: PLR0917 - the dataclass field order is the API
        self,
        type: str,
        source: str = "",
        payload: P | None = None,
        context_id: str = "",
        id: str | None = None,
        time: _dt.datetime | None = None,
        span_context: SpanContext = INVALID_SPAN_CONTEXT,
        actor: Actor | None = None,
        origin: Origin | None = None,
    ) -> None:
        # Hand-written: the generated frozen __init__ goes through
        # object.__setattr__ (a by-name descriptor lookup) per field; calling the
        # slot descriptors directly halves the cost of building every event.
        _set_type(self, type)
        _set_source(self, source)
        _set_payload(self, payload)
        _set_context_id(self, context_id)
        _set_id(self, uuid7_str() if id is None else id)
        _set_time(self, _dt.datetime.now(_UTC) if time is None else time)
        _set_span_context(self, span_context)
        _set_actor(self, actor)
        _set_origin(self, origin)

    @property
    def typed_payload(self) -> P:
        """
        The payload with its static type.

        Raises:
            ValueError: the event has no payload.
        """
        if self.payload is None:
            raise ValueError(f"event {self.id} ({self.type}) has no payload")
        return self.payload

    @property
    def trace_id(self) -> str:
        """
        Lower-case hex trace id (32 chars), or ``""`` without a valid span.
        """
        sc = self.span_context
        return format(sc.trace_id, "032x") if sc.is_valid else ""

    @property
    def span_id(self) -> str:
        """
        Lower-case hex span id (16 chars), or ``""`` without a valid span.
        """
        sc = self.span_context
        return format(sc.span_id, "016x") if sc.is_valid else ""

    @property
    def trace_flags(self) -> str:
        """
        W3C trace flags as two lower-case hex digits (``"01"`` = sampled), or ``""`` without a span.
        """
        sc = self.span_context
        return format(sc.trace_flags, "02x") if sc.is_valid else ""

    def _canonical(self) -> dict[str, Any]:
        sc = self.span_context
        d: dict[str, Any]
        if sc is not INVALID_SPAN_CONTEXT and sc.is_valid:
            d = {
                "id": self.id,
                "type": self.type,
                "time": _json_time(self.time),
                "source": self.source,
                "context_id": self.context_id,
                "trace_id": format(sc.trace_id, "032x"),
                "span_id": format(sc.span_id, "016x"),
                "trace_flags": format(sc.trace_flags, "02x"),
            }
        else:
            d = {
                "id": self.id,
                "type": self.type,
                "time": _json_time(self.time),
                "source": self.source,
                "context_id": self.context_id,
                "trace_id": "",
                "span_id": "",
            }
        actor = self.actor
        if actor is not None:
            d["actor"] = actor.shared_dict()  # read-only here: to_dict() copies it
        origin = self.origin
        if origin is not None:
            d["origin"] = origin.shared_dict()
        d["payload"] = self.payload
        return d

    def to_json_bytes(self) -> bytes:
        """
        The canonical form as one line of UTF-8 JSON (no trailing newline); never raises.
        """
        return _encoding.dumps(self._canonical())

    def to_json(self) -> str:
        """
        The canonical form as a JSON string on one line; never raises.
        """
        return self.to_json_bytes().decode("utf-8")

    def to_dict(self) -> dict[str, Any]:
        """
        The canonical form as a dict of plain JSON types (payload after the fallback encoding).

        Equal to the parsed JSON line: lone surrogates in the text fields become
        their backslash escape text, and the depth cap counts from the canonical
        object, in which the payload sits one level down.
        """
        d = self._canonical()
        d["time"] = format_time(self.time)
        d["payload"] = _encoding.make_safe(self.payload, 1)
        for name in ("id", "type", "source", "context_id"):
            value = d[name]
            if value.__class__ is not str or not value.isascii():
                d[name] = _encoding.make_safe(value)
        for name in ("actor", "origin"):
            obj = d.get(name)
            if obj is not None:
                ascii_only = all(v.isascii() for v in obj.values())
                d[name] = dict(obj) if ascii_only else _encoding.make_safe(obj)
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Event[Any]:
        """
        Rebuild an event from its canonical form (the payload comes back as plain JSON types).

        Raises:
            ValueError: a field is missing or malformed; the message names the field.
        """
        if not isinstance(d, Mapping):
            raise ValueError(f"event must be a JSON object, not {type(d).__name__}")
        event_id = _str_field(d, "id", required=True)
        if not _UUID_TEXT.fullmatch(event_id):
            raise ValueError(f"field 'id' must be a 36-character UUID string, got {event_id!r:.60}")
        event_type = _str_field(d, "type", required=True)
        if not event_type:
            raise ValueError("field 'type' must not be empty")
        raw_time = d.get("time")
        if not isinstance(raw_time, str):
            raise ValueError("field 'time' must be an RFC 3339 string")
        time = parse_time(raw_time)
        trace_hex = _str_field(d, "trace_id")
        span_hex = _str_field(d, "span_id")
        span_context = _span_context_from_hex(trace_hex, span_hex, _str_field(d, "trace_flags"))
        return cls(
            type=event_type,
            source=_str_field(d, "source"),
            payload=d.get("payload"),
            context_id=_str_field(d, "context_id"),
            id=event_id,
            time=time,
            span_context=span_context,
            actor=actor_from_dict(d.get("actor")),
            origin=origin_from_dict(d.get("origin")),
        )


_slots = Event.__dict__
_set_type = _slots["type"].__set__
_set_source = _slots["source"].__set__
_set_payload = _slots["payload"].__set__
_set_context_id = _slots["context_id"].__set__
_set_id = _slots["id"].__set__
_set_time = _slots["time"].__set__
_set_span_context = _slots["span_context"].__set__
_set_actor = _slots["actor"].__set__
_set_origin = _slots["origin"].__set__
del _slots


def _str_field(d: Mapping[str, Any], name: str, *, required: bool = False) -> str:
    value = d.get(name)
    if value is None:
        if required:
            raise ValueError(f"field {name!r} is missing")
        return ""
    if not isinstance(value, str):
        raise ValueError(f"field {name!r} must be a string, not {type(value).__name__}")
    return value


def _span_context_from_hex(trace_hex: str, span_hex: str, flags_hex: str = "") -> SpanContext:
    if not trace_hex and not span_hex:
        return INVALID_SPAN_CONTEXT
    flags = TraceFlags.SAMPLED
    if flags_hex:
        if len(flags_hex) != 2 or not _HEX_TEXT.fullmatch(flags_hex):
            raise ValueError(f"field 'trace_flags' must be 2 hex characters, got {flags_hex!r:.60}")
        flags = int(flags_hex, 16)
    if len(trace_hex) != 32 or not _HEX_TEXT.fullmatch(trace_hex):
        raise ValueError(f"field 'trace_id' must be 32 hex characters, got {trace_hex!r:.60}")
    if len(span_hex) != 16 or not _HEX_TEXT.fullmatch(span_hex):
        raise ValueError(f"field 'span_id' must be 16 hex characters, got {span_hex!r:.60}")
    trace_id, span_id = int(trace_hex, 16), int(span_hex, 16)
    return SpanContext(
        trace_id=trace_id,
        span_id=span_id,
        is_remote=True,
        trace_flags=TraceFlags(flags),
    )


def _json_time(t: _dt.datetime) -> _dt.datetime | str:
    """
    The time as orjson should encode it: the datetime itself when orjson already
    writes the canonical form (UTC with a non-zero fraction), else the formatted text.
    """
    if t.tzinfo is _UTC and t.microsecond:
        return t
    return format_time(t)


def format_time(t: _dt.datetime) -> str:
    """
    RFC 3339 UTC with microseconds and ``Z`` (naive times are taken as UTC).

    A time whose UTC value falls outside years 1-9999 (``datetime.max`` with a
    negative offset) is clamped to the nearest representable instant rather
    than raising: the encoders built on this never raise.
    """
    if t.tzinfo is not _UTC:
        t = t.replace(tzinfo=_UTC) if t.tzinfo is None else _to_utc(t)
    # orjson formats in C (several times faster than isoformat here) but drops a
    # zero fraction; the canonical form always has six digits.
    text = orjson.dumps(t, option=orjson.OPT_UTC_Z)
    if t.microsecond:
        return text[1:-1].decode("ascii")
    return text[1:-2].decode("ascii") + ".000000Z"


def _to_utc(t: _dt.datetime) -> _dt.datetime:
    try:
        return t.astimezone(_UTC)
    except OverflowError:
        edge = _dt.datetime.max if t.year > 1 else _dt.datetime.min
        return edge.replace(tzinfo=_UTC)


def parse_time(text: str) -> _dt.datetime:
    """
    Parse an RFC 3339 time with an offset into a tz-aware UTC datetime.

    Only the RFC 3339 shape is accepted (``2024-01-02T03:04:05.123456Z``,
    ``...+02:00``; any number of fraction digits, lower-case ``t``/``z``): the
    other ISO 8601 forms ``datetime.fromisoformat`` takes (week dates, basic
    format, any character as the date/time separator) are not what we write.

    Raises:
        ValueError: not a valid time or no UTC offset; names the ``time`` field.
    """
    if not _RFC3339_TEXT.fullmatch(text):
        if _RFC3339_NAIVE_TEXT.fullmatch(text):
            raise ValueError(f"field 'time' has no UTC offset: {text!r:.60}")
        raise ValueError(f"field 'time' is not an RFC 3339 time: {text!r:.60}")
    try:
        t = _dt.datetime.fromisoformat(text.upper())
    except ValueError:
        raise ValueError(f"field 'time' is not an RFC 3339 time: {text!r:.60}") from None
    try:
        return t.astimezone(_UTC)
    except OverflowError:
        raise ValueError(f"field 'time' is out of range in UTC: {text!r:.60}") from None


def new_event(
    type: str,
    source: str = "",
    payload: Any = None,
    *,
    context_id: str | None = None,
    span_context: SpanContext | None = None,
) -> Event[Any]:
    """
    Build an event with a fresh id and time.

    The context id and span default to the current ones (:func:`get_context_id`,
    the current OpenTelemetry span), the actor and origin to the bound ones
    (:func:`~audit_logging._model.scope.bind_actor`, the middlewares).

    Raises:
        TypeError: ``type`` is not a string.
        ValueError: ``type`` is empty.
    """
    if not isinstance(type, str):
        raise TypeError(f"event type must be a str, not {type.__class__.__name__}")
    if not type:
        raise ValueError("event type must not be empty")
    scope = _scope_var.get()
    return Event(
        type,
        source,
        payload,
        _context_id_var.get() if context_id is None else context_id,
        uuid7_str(),
        _dt.datetime.now(_UTC),
        current_span_context() if span_context is None else span_context,
        None if scope is None else scope.actor,
        None if scope is None else scope.origin,
    )
