"""
What a change event says about a mapped object: JSON-safe values, the fields kept, the record id.

Values are made JSON-safe when the change is captured (at flush), not when a sink
encodes it: the event is kept in a buffer until commit and may be delivered to
several sinks, and the object's attributes may change (or be expired) meanwhile,
so each value is copied into plain JSON types once:

- ``None``, ``bool``, ``int``, ``str`` and finite ``float`` as they are;
- ``Decimal`` as its exact text (``"19.99"``: a float would change the amount);
- ``datetime`` / ``date`` / ``time`` as ISO 8601 text, ``timedelta`` as seconds;
- ``UUID`` as text, an ``Enum`` as its value;
- lists, tuples, sets and dicts (JSON and ARRAY columns) element by element;
- binary values as ``"<N bytes>"``: a blob in an audit trail is noise, and its
  size says that it changed;
- anything else as ``str(value)``.

The sanitizer of each sink still applies to the event (``changes`` is a nested
dict, so secret-looking field names are masked by the key rules); fields that must
never leave the process at all are left out with ``exclude``.
"""

from __future__ import annotations

import datetime as _dt
import decimal
import enum
import math
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["FieldFilter", "json_safe", "record_id"]

_MAX_DEPTH = 16


def json_safe(value: Any, _depth: int = 0) -> Any:
    """
    ``value`` in JSON types (see the module docstring for each conversion).
    """
    if value is None or value.__class__ in (bool, int, str):
        return value
    if isinstance(value, enum.Enum):
        return json_safe(value.value, _depth + 1)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, int):
        return bool(value) if isinstance(value, bool) else int(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, _dt.datetime | _dt.date | _dt.time):
        return value.isoformat()
    if isinstance(value, _dt.timedelta):
        return value.total_seconds()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return f"<{memoryview(value).nbytes} bytes>"
    if _depth >= _MAX_DEPTH:
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): json_safe(v, _depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [json_safe(v, _depth + 1) for v in value]
    return str(value)


def record_id(values: Iterable[Any]) -> str:
    """
    The primary key as text: the value, or the values of a composite key joined by ``,``.
    """
    parts = ["" if v is None else str(json_safe(v)) for v in values]
    return parts[0] if len(parts) == 1 else ",".join(parts)


def _names(spec: Iterable[str] | None, what: str) -> frozenset[str] | None:
    if spec is None:
        return None
    if isinstance(spec, str):
        raise TypeError(f"{what} must be a collection of field names, not a string")
    names = frozenset(spec)
    for name in names:
        if not isinstance(name, str) or not name:
            raise TypeError(f"{what} entries must be non-empty strings, got {name!r}")
    return names


class FieldFilter:
    """
    Which attributes of which model are recorded.

    A name is an attribute (``"price"``, for every model) or ``"Model.attribute"``
    (that model only; ``Model`` is the mapped class's name). ``include`` keeps
    only the fields it names (for a model it does not mention, all of them);
    ``exclude`` then removes fields; an excluded field is never read.

    Raises:
        TypeError: a name is not a non-empty string, or a bare string was given.
    """

    def __init__(
        self, include: Iterable[str] | None = None, exclude: Iterable[str] | None = None
    ) -> None:
        self.include = _names(include, "include")
        self.exclude = _names(exclude, "exclude") or frozenset()
        self._included_models = frozenset(
            n.split(".", 1)[0] for n in self.include or () if "." in n
        )
        self._cache: dict[tuple[str, str], bool] = {}

    def keeps(self, model: str, field: str) -> bool:
        """
        Whether ``model.field`` is recorded (memoised: asked for every attribute of every flush).
        """
        key = (model, field)
        kept = self._cache.get(key)
        if kept is None:
            kept = self._decide(model, field)
            self._cache[key] = kept
        return kept

    def _decide(self, model: str, field: str) -> bool:
        qualified = f"{model}.{field}"
        if field in self.exclude or qualified in self.exclude:
            return False
        include = self.include
        if include is None:
            return True
        if qualified in include or field in include:
            return True
        # An include list that names only other models' fields leaves this model whole.
        bare = any("." not in n for n in include)
        return not bare and model not in self._included_models
