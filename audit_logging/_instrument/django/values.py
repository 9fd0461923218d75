"""
Model field values as JSON values, and the diff of two states of a record.

The ``changes`` of a ``record_*`` event are stored as JSON by every sink, so a
field's value is turned into one here, where its type is still known, rather
than stringified by an encoder later: numbers and booleans stay numbers and
booleans; ``Decimal`` becomes its exact text (``"19.99"``: a float would round
it); dates, times and datetimes ISO 8601 text; durations ISO 8601 durations;
UUIDs text; a file field its name; a ``JSONField`` value its JSON (nested
values converted the same way, depth-capped); bytes ``"<N bytes>"`` (binary
content is not audit text); anything else ``str(value)``. Non-finite floats
become text too (JSON has no NaN).

Equality is decided on the Python values (``Decimal("9.90") == Decimal("9.9")``),
so a value written back unchanged, or normalised by the database, is no change.
"""

from __future__ import annotations

import datetime as _dt
import math
import uuid
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

__all__ = ["diff", "json_safe", "snapshot"]

_MAX_DEPTH = 16


def json_safe(value: Any, depth: int = 0) -> Any:
    """
    ``value`` as a JSON value (see the module docstring).
    """
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, _dt.date | _dt.time):  # datetime is a date
        return value.isoformat()
    if isinstance(value, _dt.timedelta):
        from django.utils.duration import duration_iso_string  # type: ignore[import-untyped]

        return duration_iso_string(value)
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return f"<{len(value)} bytes>"
    if depth >= _MAX_DEPTH:
        return "<nested too deep>"
    if isinstance(value, Mapping):
        return {str(k): json_safe(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [json_safe(v, depth + 1) for v in value]
    name = getattr(value, "name", None)
    if name is not None and hasattr(value, "storage"):  # FieldFile
        return str(name)
    pk = getattr(getattr(value, "_meta", None), "pk", None)
    if pk is not None:  # a model instance: its primary key
        return json_safe(getattr(value, pk.attname, None), depth + 1)
    return str(value)


def snapshot(instance: Any, fields: tuple[tuple[str, str], ...]) -> dict[str, Any]:
    """
    The raw attribute values of ``fields`` (name -> value) of a model instance.

    Deferred fields (``.only()``) not loaded are left out rather than loaded.
    """
    loaded = instance.__dict__
    return {name: loaded[attname] for name, attname in fields if attname in loaded}


def diff(old: Mapping[str, Any] | None, new: Mapping[str, Any] | None) -> dict[str, list[Any]]:
    """
    ``{field: [old, new]}`` for the fields that differ, as JSON values.

    ``old`` ``None``: a creation (fields whose new value is ``None`` are left
    out); ``new`` ``None``: a deletion (every field, with its last value).
    """
    changes: dict[str, list[Any]] = {}
    if old is None:
        for name, value in (new or {}).items():
            if value is not None:
                changes[name] = [None, json_safe(value)]
        return changes
    if new is None:
        return {name: [json_safe(value), None] for name, value in old.items()}
    for name, value in new.items():
        before = old.get(name)
        if name in old and _same(before, value):
            continue
        changes[name] = [json_safe(before), json_safe(value)]
    return changes


def _same(a: Any, b: Any) -> bool:
    # Decimal against the text a form or code assigned: compare the numbers.
    if isinstance(a, Decimal) != isinstance(b, Decimal) and a is not None and b is not None:
        try:
            return Decimal(str(a)) == Decimal(str(b))
        except Exception:
            return False
    try:
        return bool(a == b)
    except Exception:  # an __eq__ that raises: compare the JSON forms
        return bool(json_safe(a) == json_safe(b))
