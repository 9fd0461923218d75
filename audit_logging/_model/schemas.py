"""
Payload schemas: which fields an event type must carry, and of which types.

The bus calls :func:`validate` on every publish and rejects an event whose payload
breaks its type's schema, so a malformed audit record is refused at the door
instead of being found, months later, in the trail. Rules:

- a type without a registered schema passes (any string is a valid type);
- a dict (any ``Mapping``) payload must hold every required field, and every field
  listed in ``field_types`` that is present must be an instance of its type(s);
- ``bool`` is not an ``int``: a ``True`` passes a field only when ``bool`` (or
  ``object``) is listed for it: a flag where a number belongs is a caller's mistake;
- a ``None`` type means any value (the field must still be present if required);
- a dataclass payload (the ``*_t`` factories) is checked the same way on its attributes;
- a ``None`` payload passes only a schema with no required fields; any other kind of
  payload is refused;
- the other fields are checked for every event, schema or not: ``type`` a non-empty
  string, ``source``/``context_id``/``id`` strings (``id`` 36 characters), ``time`` a
  ``datetime``, ``span_context`` a ``SpanContext``. Only an :class:`Event` built by
  hand can break this, and it would otherwise fail after acceptance (history,
  routing, metrics, a spill line that cannot be replayed); the check costs a few
  identity tests per publish;
- an encrypted payload (a mapping holding :data:`ENCRYPTED_MARKER`, as produced by
  :func:`audit_logging._security.crypto.encrypt_event`) is not checked again: the plaintext was
  validated before it was encrypted, and the envelope cannot be read here.

Every predefined :class:`~audit_logging._model.catalog.EventType` has its schema registered
at import, derived from its catalog entry: exactly the payload keys its factory writes, all
required, with the types their conversions produce.

Each schema is compiled once, at registration, into a tuple of
``(name, required, types, bool_allowed)`` checks; the registry is replaced as a whole
under a lock on every change (copy on write), so :func:`validate` reads it without
locking and never sees a half-made update.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import threading
import types as _types
from collections.abc import Mapping, Sequence
from typing import Any, Final, TypeAlias

from opentelemetry.trace import SpanContext

from audit_logging._model.catalog import EventType
from audit_logging._model.event import EVENT_ANY, Event
from audit_logging.exceptions import SchemaValidationError

__all__ = [
    "ENCRYPTED_MARKER",
    "EventSchema",
    "FieldType",
    "get_schema",
    "register_schema",
    "unregister_schema",
    "validate",
]

ENCRYPTED_MARKER: Final = "__audit_encrypted__"
"""Key present in every encrypted-payload envelope; such payloads skip validation."""

FieldType: TypeAlias = "type | _types.UnionType | tuple[type, ...] | None"
"""What a field may hold: a type, a tuple of types (or a union like ``int | str``), or
``None`` for any value."""

_MISSING: Final = object()
_ID_LENGTH: Final = 36


@dataclasses.dataclass(frozen=True, slots=True)
class EventSchema:
    """
    The shape of one event type's payload.

    ``required_fields`` must all be present; ``field_types`` gives the accepted type(s)
    of a field (required or optional) and ``None`` accepts any value. Both are frozen on
    construction (a tuple and a read-only mapping), so a registered schema cannot be
    changed behind the registry's back.

    Raises:
        TypeError: ``required_fields`` is a bare string or holds non-strings, or a
            ``field_types`` value is neither a type, a tuple of types nor ``None``.
    """

    required_fields: Sequence[str]
    field_types: Mapping[str, FieldType] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        required = self.required_fields
        if isinstance(required, str | bytes) or not isinstance(required, Sequence):
            raise TypeError(
                f"required_fields must be a sequence of field names, not {type(required).__name__}"
            )
        required = tuple(required)
        for name in required:
            if not isinstance(name, str):
                raise TypeError(f"field names must be str, not {type(name).__name__}")
        if not isinstance(self.field_types, Mapping):
            raise TypeError(f"field_types must be a mapping, not {type(self.field_types).__name__}")
        field_types = dict(self.field_types)
        for name, accepted in field_types.items():
            if not isinstance(name, str):
                raise TypeError(f"field names must be str, not {type(name).__name__}")
            _normalise(name, accepted)
        object.__setattr__(self, "required_fields", required)
        object.__setattr__(self, "field_types", _types.MappingProxyType(field_types))


def _is_plain_type(value: object) -> bool:
    # list[int] passes isinstance(x, type) on 3.11 but cannot be used with isinstance().
    return isinstance(value, type) and not isinstance(value, _types.GenericAlias)


def _normalise(name: str, accepted: object) -> tuple[type, ...] | None:
    """
    The accepted types of a field as a tuple for ``isinstance``, or ``None`` for any.
    """
    if accepted is None:
        return None
    if isinstance(accepted, _types.UnionType):
        accepted = accepted.__args__
    if _is_plain_type(accepted):
        return (accepted,)  # type: ignore[return-value]
    if isinstance(accepted, tuple) and accepted and all(_is_plain_type(t) for t in accepted):
        return accepted
    raise TypeError(
        f"field_types[{name!r}] must be a type, a non-empty tuple of types or None, "
        f"not {accepted!r}"
    )


_Check: TypeAlias = tuple[str, bool, "tuple[type, ...] | None", bool]


@dataclasses.dataclass(frozen=True, slots=True)
class _Compiled:
    """
    A schema turned into the flat checks :func:`validate` runs.
    """

    schema: EventSchema
    checks: tuple[_Check, ...]
    has_required: bool


def _compile(schema: EventSchema) -> _Compiled:
    required = schema.required_fields
    names = list(dict.fromkeys([*required, *schema.field_types]))
    checks: list[_Check] = []
    for name in names:
        accepted = _normalise(name, schema.field_types.get(name))
        bool_allowed = accepted is None or bool in accepted or object in accepted
        checks.append((name, name in required, accepted, bool_allowed))
    return _Compiled(schema, tuple(checks), bool(required))


_lock = threading.Lock()
_registry: dict[str, _Compiled] = {}


def register_schema(event_type: str, schema: EventSchema) -> None:
    """
    Register ``schema`` for ``event_type``, replacing any earlier one.

    Thread-safe; takes effect for every event validated after it returns.

    Raises:
        TypeError: ``event_type`` is not a string or ``schema`` is not an EventSchema.
        ValueError: ``event_type`` is empty or the wildcard ``"*"`` (a schema describes
            one type's payload).
    """
    global _registry
    if not isinstance(event_type, str):
        raise TypeError(f"event type must be a str, not {type(event_type).__name__}")
    if not event_type or event_type == EVENT_ANY:
        raise ValueError(f"cannot register a schema for event type {event_type!r}")
    if not isinstance(schema, EventSchema):
        raise TypeError(f"schema must be an EventSchema, not {type(schema).__name__}")
    compiled = _compile(schema)
    key = str(event_type)  # a plain str key, even for an EventType member
    with _lock:
        registry = dict(_registry)
        registry[key] = compiled
        _registry = registry


def unregister_schema(event_type: str) -> EventSchema | None:
    """
    Remove the schema of ``event_type`` and return it (``None`` if there was none).

    Thread-safe. Events of that type are accepted unchecked afterwards.
    """
    global _registry
    with _lock:
        registry = dict(_registry)
        removed = registry.pop(event_type, None)
        _registry = registry
    return None if removed is None else removed.schema


def get_schema(event_type: str) -> EventSchema | None:
    """
    The schema registered for ``event_type``, or ``None``.
    """
    compiled = _registry.get(event_type)
    return None if compiled is None else compiled.schema


def _type_names(accepted: tuple[type, ...]) -> str:
    return " | ".join(t.__name__ for t in accepted)


def _fail_type(event_type: str, name: str, accepted: tuple[type, ...], value: object) -> None:
    raise SchemaValidationError(
        event_type, name, f"expected {_type_names(accepted)}, got {type(value).__name__}"
    )


def validate(evt: Event[Any]) -> None:
    """
    Check ``evt``'s fields, and its payload against the schema of its type.

    Raises:
        SchemaValidationError: the payload breaks the schema; ``event_type`` and
            ``field`` say where (``field`` is ``""`` when the payload as a whole is wrong).
    """
    event_type = evt.type
    try:
        compiled = _registry.get(event_type)
    except TypeError:  # an unhashable "type"
        compiled = None
    if (
        (compiled is None and (event_type.__class__ is not str or not event_type))
        or evt.source.__class__ is not str
        or evt.context_id.__class__ is not str
        or evt.id.__class__ is not str
        or len(evt.id) != _ID_LENGTH
        or evt.time.__class__ is not _dt.datetime
        or evt.span_context.__class__ is not SpanContext
    ):
        _check_fields(evt)
    if compiled is None:
        return
    payload = evt.payload
    if type(payload) is dict or isinstance(payload, Mapping):
        if ENCRYPTED_MARKER in payload:
            return
        for name, required, accepted, bool_allowed in compiled.checks:
            value = payload.get(name, _MISSING)
            if value is _MISSING:
                if required:
                    raise SchemaValidationError(evt.type, name, "required field is missing")
                continue
            if accepted is not None and (
                not isinstance(value, accepted) or (value.__class__ is bool and not bool_allowed)
            ):
                _fail_type(evt.type, name, accepted, value)
        return
    _validate_other(evt.type, compiled, payload)


def _type_text(event_type: object) -> str:
    """
    The event type for an error message: the type itself if it is text, else a placeholder.
    """
    return event_type if isinstance(event_type, str) else f"<{type(event_type).__name__}>"


def _check_fields(evt: Event[Any]) -> None:
    """
    The slow path of the field check: types of the fields other than the payload.

    An :class:`Event` built by hand (not by a factory or :func:`new_event`) can
    hold anything; a non-string type or source would otherwise break the bus
    after it accepted the event (history, routing, metrics), and an event whose
    fields a spill line cannot restore would be quarantined at replay instead of
    delivered. Subclasses (``EventType``, a frozen clock's ``datetime``) pass.
    """
    event_type = evt.type
    if not isinstance(event_type, str):
        raise SchemaValidationError(
            _type_text(event_type), "type", f"must be a str, not {type(event_type).__name__}"
        )
    if not event_type:
        raise SchemaValidationError(event_type, "type", "must not be empty")
    for name in ("source", "context_id", "id"):
        value = getattr(evt, name)
        if not isinstance(value, str):
            raise SchemaValidationError(
                event_type, name, f"must be a str, not {type(value).__name__}"
            )
    if len(evt.id) != _ID_LENGTH:
        raise SchemaValidationError(
            event_type, "id", f"must be a {_ID_LENGTH}-character UUID, got {len(evt.id)} characters"
        )
    if not isinstance(evt.time, _dt.datetime):
        raise SchemaValidationError(
            event_type, "time", f"must be a datetime, not {type(evt.time).__name__}"
        )
    if not isinstance(evt.span_context, SpanContext):
        raise SchemaValidationError(
            event_type,
            "span_context",
            f"must be an opentelemetry SpanContext, not {type(evt.span_context).__name__}",
        )


def _validate_other(event_type: str, compiled: _Compiled, payload: object) -> None:
    """
    The slow path: dataclass payloads, ``None`` and everything else.
    """
    if payload is None:
        if compiled.has_required:
            names = ", ".join(compiled.schema.required_fields)
            raise SchemaValidationError(
                event_type, "", f"payload is missing (required fields: {names})"
            )
        return
    if not dataclasses.is_dataclass(payload) or isinstance(payload, type):
        raise SchemaValidationError(
            event_type,
            "",
            f"payload must be a mapping or a dataclass instance, not {type(payload).__name__}",
        )
    for name, required, accepted, bool_allowed in compiled.checks:
        value = getattr(payload, name, _MISSING)
        if value is _MISSING:
            if required:
                raise SchemaValidationError(
                    event_type,
                    name,
                    f"required field is missing from {type(payload).__name__} payload",
                )
            continue
        if accepted is not None and (
            not isinstance(value, accepted) or (value.__class__ is bool and not bool_allowed)
        ):
            _fail_type(event_type, name, accepted, value)


def _register_predefined() -> None:
    for event_type in EventType:
        made = event_type.entry
        register_schema(event_type, EventSchema(made.keys, made.field_types))


_register_predefined()
