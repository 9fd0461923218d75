"""
The ``fields`` of a log event: a bounded, plain-JSON copy of the caller's values.

``fields`` hold what a caller attached to a log line (stdlib ``extra``, structlog
keys, :class:`~audit_logging.Logger` keywords, the ``new_info``/... ``fields``
argument). They keep their JSON types (``"amount": 12.5``, ``"ok": true``,
lists, nested objects) so a trail can be queried by value and, above all, so
the sanitizer sees nested keys: ``extra={"card": {"cvv": "123"}}`` is masked by
key like a top-level ``cvv``, where the string ``"{'cvv': '123'}"`` used to slip
past it.

Why a copy, made at once on the caller's thread: the event is handed to the
bus's worker, history and sinks later; a reference to the caller's dict or list
would let a mutation after the log call change (or race with the encoding of)
an event already published. Everything mutable is copied; strings, numbers,
``True``/``False`` and ``None`` are immutable and kept as they are.

The copy follows the documented fallback of :mod:`audit_logging._model.encoding`
(:func:`~audit_logging._model.encoding.make_safe`) for what JSON cannot hold
(``Decimal`` -> string, aware ``datetime`` -> RFC 3339, ``bytes`` ->
``"base64:..."``, tuples and sets -> lists, dataclasses -> objects, enums -> their
value, NaN/Infinity -> ``null``, lone surrogates escaped, anything else
``str(value)``), with two differences that keep a log call cheap and safe:

- **bounded**: nesting deeper than :data:`MAX_FIELD_DEPTH` becomes
  ``"<max depth exceeded>"`` and at most :data:`MAX_FIELD_ITEMS` values are copied
  per event; where the budget runs out a list ends with the string
  ``"<truncated: N more>"`` and an object gets the key ``"<truncated>"`` with that
  string, so a cut is visible, never silent. A reference cycle becomes ``"<cycle>"``.
- **request objects**: anything with a string ``method`` and a string ``path``
  (Django's ``HttpRequest`` in ``django.request`` records, a Flask request) or
  ``url.path`` (Starlette, httpx) becomes ``"METHOD /path"``, at any depth (a
  request nested in a dict is as dangerous as one at the top), never an object
  of its attributes or its ``str()``: those hold the query string, cookies and
  the ``Authorization`` header.

String length is not capped (as for the message). Redaction is not done here:
the bus sanitizes every payload (:mod:`audit_logging._security.sanitize`), and
the copy is plain dicts and lists, which its fast path checks inline.
"""

from __future__ import annotations

import dataclasses
import enum
import math
from collections.abc import Mapping
from typing import Any, Final

from audit_logging._model.encoding import _safe_str, json_default, make_safe

__all__ = ["MAX_FIELD_DEPTH", "MAX_FIELD_ITEMS", "field_map", "field_value", "request_text"]

MAX_FIELD_DEPTH: Final = 16
"""Containers nested deeper than this in one field value become ``"<max depth exceeded>"``."""

MAX_FIELD_ITEMS: Final = 1000
"""At most this many values (every container entry counts) are copied into one event's fields."""

_TRUNCATED: Final = "<truncated>"
_DEEP: Final = "<max depth exceeded>"
_CYCLE: Final = "<cycle>"
_DICT, _LIST, _FIELDS = range(3)


class _Budget:
    """
    The values still allowed into one ``fields`` copy, and the containers on the path.
    """

    __slots__ = ("left", "path")

    def __init__(self) -> None:
        self.left = MAX_FIELD_ITEMS
        self.path: set[int] = set()


def request_text(value: object) -> str | None:
    """
    ``"METHOD /path"`` for an HTTP request object, else ``None``.

    A request is anything but a string, number, dict, list or tuple with a string
    ``method`` and a string ``path`` (Django, Flask, aiohttp) or ``url.path``
    (Starlette, httpx: the Starlette ``Request`` is a ``Mapping`` over the ASGI
    scope, headers included, so it must not be copied as one); only those are read.
    """
    if isinstance(value, str | int | float | dict | list | tuple):
        return None
    try:
        method = getattr(value, "method", None)
        if not isinstance(method, str):
            return None
        path = getattr(value, "path", None)
        if not isinstance(path, str):
            path = getattr(getattr(value, "url", None), "path", None)
    except Exception:  # a property that raises: not a request we can describe
        return None
    if isinstance(path, str):
        return f"{_safe_str(method)} {_safe_str(path)}"
    return None


def _text(value: str) -> str:
    return value if value.isascii() else _safe_str(value)


def _key(key: object) -> str:
    return _text(key) if type(key) is str else _safe_str(key)


def _cut(count: int) -> str:
    return f"{_TRUNCATED[:-1]}: {count} more>"


def _copy_items(pairs: Any, size: int, depth: int, budget: _Budget) -> dict[str, Any]:
    """
    An object of ``(key, child)`` pairs; plain leaves are handled inline (the common case).
    """
    out: dict[str, Any] = {}
    left = budget.left
    for index, (key, child) in enumerate(pairs):
        if left <= 0:
            out[_TRUNCATED] = _cut(size - index)
            break
        left -= 1
        kind = type(child)
        if kind is str:
            plain = child if child.isascii() else _safe_str(child)
        elif kind is int or kind is bool or child is None:
            plain = child
        else:
            budget.left = left
            plain = _copy(child, depth, budget)
            left = budget.left
        out[key if type(key) is str and key.isascii() else _key(key)] = plain
    budget.left = left
    return out


def _copy_list(items: Any, size: int, depth: int, budget: _Budget) -> list[Any]:
    """
    A list of ``items``; plain leaves are handled inline.
    """
    out: list[Any] = []
    left = budget.left
    for index, child in enumerate(items):
        if left <= 0:
            out.append(_cut(size - index))
            break
        left -= 1
        kind = type(child)
        if kind is str:
            plain = child if child.isascii() else _safe_str(child)
        elif kind is int or kind is bool or child is None:
            plain = child
        else:
            budget.left = left
            plain = _copy(child, depth, budget)
            left = budget.left
        out.append(plain)
    budget.left = left
    return out


def _container(value: Any, kind: int, depth: int, budget: _Budget) -> Any:
    """
    The copy of a dict (``_DICT``), a dataclass (``_FIELDS``) or a list, tuple or set.
    """
    if depth >= MAX_FIELD_DEPTH:
        return _DEEP
    marker = id(value)
    path = budget.path
    if marker in path:
        return _CYCLE
    path.add(marker)
    try:
        if kind == _DICT:
            # dict.items for a dict: a subclass's override cannot hide data from the copy.
            items = dict.items(value) if isinstance(value, dict) else value.items()
            return _copy_items(items, len(value), depth + 1, budget)
        if kind == _FIELDS:
            names = [f.name for f in dataclasses.fields(value)]
            pairs = ((name, getattr(value, name)) for name in names)
            return _copy_items(pairs, len(names), depth + 1, budget)
        if isinstance(value, set | frozenset):
            value = json_default(value)  # a list, sorted when the items are orderable
        return _copy_list(value, len(value), depth + 1, budget)
    except Exception:  # items(), iteration or fields that raise; a dict changed meanwhile
        return f"<unreadable {type(value).__name__}>"
    finally:
        path.discard(marker)


def _copy(value: Any, depth: int, budget: _Budget) -> Any:
    """
    The plain-JSON copy of one value at nesting ``depth`` (see the module docstring).
    """
    kind = type(value)
    if kind is str:
        return _text(value)
    if kind is int or kind is bool or value is None:
        return value
    if kind is float:
        return value if math.isfinite(value) else None
    if kind is dict:
        return _container(value, _DICT, depth, budget)
    if kind is list or kind is tuple:
        return _container(value, _LIST, depth, budget)
    try:
        return _other(value, depth, budget)
    except Exception:  # e.g. a __class__ or __eq__ that raises: not passed on, never raised
        return f"<unreadable {kind.__name__}>"


def _other(value: Any, depth: int, budget: _Budget) -> Any:
    """
    The copy of anything but an exact str, int, bool, None, float, dict, list or tuple.
    """
    if isinstance(value, enum.Enum):
        return _copy(value.value, depth, budget)
    if isinstance(value, str):  # subclasses: their plain value (the slots cannot be overridden)
        return _text(str.__str__(value))
    if isinstance(value, int):
        return int.__int__(value)
    if isinstance(value, float):
        return _copy(float.__float__(value), depth, budget)
    request = request_text(value)
    if request is not None:
        return request
    if isinstance(value, Mapping):
        return _container(value, _DICT, depth, budget)
    if isinstance(value, list | tuple | set | frozenset):
        return _container(value, _LIST, depth, budget)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _container(value, _FIELDS, depth, budget)
    return make_safe(value)  # the encoder's fallback for a leaf: never a container


def field_value(value: Any) -> Any:
    """
    One value as it is stored in ``fields``: a bounded plain-JSON copy.
    """
    return _copy(value, 0, _Budget())


def field_map(values: Mapping[Any, Any] | None) -> dict[str, Any]:
    """
    The ``fields`` of an event: a bounded plain-JSON copy with string keys; ``None`` is ``{}``.

    The common case, flat strings and numbers, is kept to a type test per value.
    """
    if not values:
        return {}
    out: dict[str, Any] = {}
    budget: _Budget | None = None
    for count, (key, value) in enumerate(values.items()):
        if (MAX_FIELD_ITEMS - count if budget is None else budget.left) <= 0:
            out[_TRUNCATED] = _cut(len(values) - count)
            break
        if budget is not None:
            budget.left -= 1
        kind = type(value)
        if kind is str:
            plain = value if value.isascii() else _safe_str(value)
        elif kind is int or kind is bool or value is None:
            plain = value
        else:
            if budget is None:
                budget = _Budget()
                budget.left -= count + 1
            plain = _copy(value, 0, budget)
        out[key if type(key) is str and key.isascii() else _key(key)] = plain
    return out
