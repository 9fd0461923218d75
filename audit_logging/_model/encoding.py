"""
JSON encoding of payloads: fast, strict, and never raising.

Every file line, spill line and Kafka value is produced here, so this module
holds the promise "one event is one line of valid JSON, whatever the payload
holds". The fast path is a single :func:`orjson.dumps` call. When orjson
refuses the value (lone surrogates, integers beyond 64 bits, non-string keys,
nesting deeper than orjson's limit, reference cycles) the value is first turned
into a safe tree by :func:`make_safe` and encoded again.

The documented fallback for values JSON cannot hold:

=============================  ==============================================
value                          encoded as
=============================  ==============================================
aware ``datetime``             RFC 3339 string (``Z`` for UTC)
naive ``datetime``/date/time   ISO 8601 string as it is
``Decimal``, ``UUID``          ``str(value)`` (no precision lost)
``bytes``/``bytearray``        ``"base64:<standard base64>"``
``set``/``frozenset``          list (sorted when the items are orderable)
``tuple``                      list
dataclass instance             object of its fields
``Enum``                       its value
exception                      ``"TypeName: message"``
NaN, +/-Infinity               ``null`` (JSON has no spelling for them)
non-string dict key            ``str(key)``
lone surrogate in a string     backslash escape text, e.g. ``\\udc80``
reference cycle                ``"<cycle>"``
nesting deeper than 250        ``"<max depth exceeded>"``
container that raises on read  ``"<unreadable TypeName>"``
anything else                  ``str(value)``, or ``"<unprintable TypeName>"``
                               when ``str`` raises
=============================  ==============================================

Control characters are escaped by the JSON encoder (so CR/LF/ESC can never
start a new line or drive a terminal) and the line separators U+2028, U+2029
and U+0085, which :meth:`str.splitlines` and some viewers treat as line breaks,
are escaped too.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as _dt
import enum
import json
import math
import re
import uuid
from decimal import Decimal
from typing import Any

import orjson

__all__ = ["MAX_DEPTH", "dumps", "json_default", "loads", "make_safe"]

MAX_DEPTH = 250
"""Nesting below this depth is replaced by a marker in the fallback path."""

_OPTS = orjson.OPT_UTC_Z
_LINE_SEPARATORS = (
    (b"\xe2\x80\xa8", b"\\u2028"),
    (b"\xe2\x80\xa9", b"\\u2029"),
    (b"\xc2\x85", b"\\u0085"),
)


def _safe_str(value: object) -> str:
    """
    ``str(value)`` that never raises and never yields lone surrogates.
    """
    try:
        text = value if isinstance(value, str) else str(value)
    except Exception:
        return f"<unprintable {type(value).__name__}>"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


def json_default(value: Any) -> Any:
    """
    Encode a value orjson does not know (the ``default=`` hook of the fast path).
    """
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return "base64:" + base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, set | frozenset):
        try:
            return sorted(value)
        except Exception:  # unorderable items, or a __lt__ that raises anything
            return list(value)
    if isinstance(value, BaseException):
        return f"{type(value).__name__}: {_safe_str(value)}"
    return _safe_str(value)


def make_safe(value: Any, _depth: int = 0, _path: set[int] | None = None) -> Any:
    """
    Return a tree of plain JSON types equivalent to ``value`` under the fallback rules.
    """
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, str):
        return _safe_str(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, enum.Enum):
        return make_safe(value.value, _depth, _path)
    if isinstance(value, _dt.datetime):
        return orjson.loads(orjson.dumps(value, option=_OPTS))
    if isinstance(value, _dt.date | _dt.time):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    is_container = isinstance(value, dict | list | tuple | set | frozenset) or (
        dataclasses.is_dataclass(value) and not isinstance(value, type)
    )
    if not is_container:
        return make_safe(json_default(value), _depth, _path)
    if _depth >= MAX_DEPTH:
        return "<max depth exceeded>"
    path = _path if _path is not None else set()
    marker = id(value)
    if marker in path:
        return "<cycle>"
    path.add(marker)
    try:
        depth = _depth + 1
        if isinstance(value, dict):
            # dict.items, not value.items: a subclass's override cannot hide or
            # fake its data (orjson reads a dict subclass natively, so this agrees).
            items = dict.items(value)
            return {_safe_str(k): make_safe(v, depth, path) for k, v in items}
        if isinstance(value, list | tuple):
            return [make_safe(v, depth, path) for v in value]
        if isinstance(value, set | frozenset):
            return [make_safe(v, depth, path) for v in json_default(value)]
        return {
            f.name: make_safe(getattr(value, f.name), depth, path)
            for f in dataclasses.fields(value)
        }
    except Exception:  # a container whose items(), iteration or fields raise
        return f"<unreadable {type(value).__name__}>"
    finally:
        path.discard(marker)


def _escape_separators(data: bytes) -> bytes:
    if data.isascii():
        return data
    if b"\xe2\x80" in data or b"\xc2\x85" in data:
        for raw, escaped in _LINE_SEPARATORS:
            data = data.replace(raw, escaped)
    return data


def dumps(value: Any) -> bytes:
    """
    Encode ``value`` as compact UTF-8 JSON on one line; never raises.
    """
    try:
        data = orjson.dumps(value, default=json_default, option=_OPTS)
    except (TypeError, orjson.JSONEncodeError):
        safe = make_safe(value)
        try:
            data = orjson.dumps(safe, option=_OPTS)
        except (TypeError, orjson.JSONEncodeError):
            # Integers beyond 64 bits: the stdlib encoder handles them exactly.
            data = json.dumps(
                safe, ensure_ascii=False, separators=(",", ":"), allow_nan=False
            ).encode("utf-8")
    return _escape_separators(data)


_MAYBE_BIG_INT = re.compile(rb"[:,\[]\s*-?[0-9]{19}")  # a number token of 19+ digits


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def loads(data: bytes | str) -> Any:
    """
    Decode what :func:`dumps` wrote, strictly: no NaN/Infinity, valid UTF-8.

    orjson reads an integer beyond 64 bits as a float, or refuses it ("number is
    infinity") past a double's range; :func:`dumps` writes such integers exactly
    (through the stdlib), so where one may be present the stdlib decodes the data
    instead, still refusing the NaN/Infinity constants.

    Raises:
        ValueError: not valid JSON.
    """
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    if _MAYBE_BIG_INT.search(raw):
        return json.loads(raw, parse_constant=_reject_constant)
    return orjson.loads(raw)
