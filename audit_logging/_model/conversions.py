"""
How a factory argument becomes a payload value, when it is not stored as it is.

The payloads are written as the original Go library writes them, so a trail
produced by either reads the same:

- durations (``timedelta`` or seconds as a number) become whole milliseconds,
  truncated toward zero; ``expires_in`` becomes whole seconds the same way. A
  float is first rounded to nanoseconds, so ``0.57`` is 570 ms rather than 569;
- an error (exception or text) becomes its text, ``None`` becomes ``""``;
- a string map (``metadata``) is copied with string keys and values, ``None``
  becomes ``{}``; ``changes`` is copied as it is (a shallow copy);
- a log event's ``fields`` keep their JSON types: a bounded plain-JSON deep copy
  (:func:`audit_logging._model.fieldvalues.field_map`, which says why and how);
  this is where the payloads part from the Go library's ``map[string]string``.

Every map is a copy, so a caller mutating its dict after the call cannot change
an event already published. Argument types are otherwise checked by the schema
at publish time, not here: these run on every audited action.
"""

from __future__ import annotations

import datetime as _dt
import math
import numbers
from collections.abc import Mapping
from typing import Any, TypeAlias

from audit_logging._model.encoding import _safe_str

__all__ = ["Duration", "copy_map", "error_text", "milliseconds", "seconds", "string_map"]

Duration: TypeAlias = _dt.timedelta | float
"""A duration: a ``timedelta`` or a number of seconds."""

_NS_PER_MS = 1_000_000
_NS_PER_S = 1_000_000_000


def _nanoseconds(value: Duration, name: str) -> int:
    """
    A duration as whole nanoseconds, the finest unit a payload duration is derived from.

    Raises:
        TypeError: not a timedelta or a real number (``bool`` included).
        ValueError: a NaN or infinite number of seconds.
    """
    if isinstance(value, _dt.timedelta):
        return (value.days * 86_400 + value.seconds) * _NS_PER_S + value.microseconds * 1_000
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(
            f"{name} must be a timedelta or a number of seconds, not {type(value).__name__}"
        )
    if isinstance(value, int):
        return value * _NS_PER_S
    seconds = float(value)
    if not math.isfinite(seconds):
        raise ValueError(f"{name} must be finite, got {seconds!r}")
    return round(seconds * 1e9)


def _truncated(numerator: int, denominator: int) -> int:
    """
    Integer division rounding toward zero (Python's ``//`` rounds toward minus infinity).
    """
    if numerator >= 0:
        return numerator // denominator
    return -(-numerator // denominator)


def milliseconds(value: Duration, name: str) -> int:
    """
    A duration as whole milliseconds, truncated toward zero; ``name`` is for the error message.
    """
    return _truncated(_nanoseconds(value, name), _NS_PER_MS)


def seconds(value: Duration, name: str) -> int:
    """
    A duration as whole seconds, truncated toward zero; ``name`` is for the error message.
    """
    return _truncated(_nanoseconds(value, name), _NS_PER_S)


def error_text(err: BaseException | str | None) -> str:
    """
    The text of an error; ``None`` is ``""`` and an exception whose ``str()`` raises a placeholder.
    """
    if err is None:
        return ""
    if isinstance(err, str):
        return err
    return _safe_str(err)


def string_map(values: Mapping[Any, Any] | None) -> dict[str, str]:
    """
    A copy with string keys and values; ``None`` is ``{}``.
    """
    if not values:
        return {}
    return {
        k if type(k) is str else _safe_str(k): v if type(v) is str else _safe_str(v)
        for k, v in values.items()
    }


def copy_map(values: Mapping[str, Any] | None) -> dict[str, Any]:
    """
    A shallow copy, so a caller mutating its dict later cannot change the event; ``None`` is ``{}``.
    """
    return {} if values is None else dict(values)
