"""
Payload field filters (``user_id=u1``, ``actor.name=Zoë``): parsing and matching.

One meaning for every place that filters on a payload field, so a query gives the
same events whether it reads a table (SQLite, PostgreSQL, MariaDB: the SQL is in
:mod:`audit_logging._sinks.database.payload_filter`) or a JSON-lines file (matched
here, in Python):

- the key is a dotted path of identifiers (``a.b`` is field ``b`` of object ``a``);
  anything else is refused with an error naming the key, so a key can never
  reach SQL as text, and a JSON path with wildcards or quotes is never built;
- the value matches a JSON string equal to it, character for character (no
  case folding, no pattern: ``%`` and ``_`` are ordinary characters), and, when
  the value is spelled as a JSON number, ``true``, ``false`` or ``null``, that
  scalar too (``n=42`` matches ``42``, ``42.0`` and ``"42"``); objects and arrays
  never match, nor does an array holding the value.

Nothing here imports an optional dependency.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["FieldFilter", "all_match", "parse_filter"]

_PATH = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*")
_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?P<float>(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?)")
_LITERALS: dict[str, bool | None] = {"true": True, "false": False, "null": None}
_MAX_KEY = 200


@dataclass(frozen=True)
class FieldFilter:
    """
    One ``key=value`` filter: the path into the payload and the JSON values it matches.

    ``candidates`` always starts with the value as a string; a second entry is the
    number, boolean or ``None`` the value also spells.
    """

    key: str
    path: tuple[str, ...]
    candidates: tuple[str | int | float | bool | None, ...]

    def matches(self, payload: Any) -> bool:
        """
        Whether ``payload`` (decoded JSON) holds one of the candidates at the path.
        """
        node = payload
        for name in self.path:
            if not isinstance(node, Mapping) or name not in node:
                return False
            node = node[name]
        return any(_same(node, candidate) for candidate in self.candidates)

    def nested(self, candidate: object) -> dict[str, Any]:
        """
        ``{"a": {"b": candidate}}`` for the path ``a.b`` (a JSONB containment document).
        """
        doc: Any = candidate
        for name in reversed(self.path):
            doc = {name: doc}
        result: dict[str, Any] = doc
        return result


def _same(node: object, candidate: object) -> bool:
    if isinstance(candidate, str):
        return isinstance(node, str) and node == candidate
    if candidate is None or isinstance(candidate, bool):
        return node is candidate
    return isinstance(node, int | float) and not isinstance(node, bool) and node == candidate


def parse_filter(text: str) -> FieldFilter:
    """
    Parse ``key=value`` (the first ``=`` splits; the value may contain more).

    Raises:
        ValueError: no ``=``, or the key is not a dotted identifier path; the
            message names the key.
    """
    key, sep, value = text.partition("=")
    if not sep:
        raise ValueError(f"{text[:_MAX_KEY]!r} is not KEY=VALUE (example: user_id=u1)")
    if len(key) > _MAX_KEY or _PATH.fullmatch(key) is None:
        raise ValueError(
            f"invalid payload key {key[:_MAX_KEY]!r}: use a field name or a dotted path of "
            "names (letters, digits, underscores; not starting with a digit), e.g. user.id"
        )
    return FieldFilter(key, tuple(key.split(".")), _candidates(value))


def _candidates(value: str) -> tuple[str | int | float | bool | None, ...]:
    if value in _LITERALS:
        return (value, _LITERALS[value])
    number = _NUMBER.fullmatch(value)
    if number is None:
        return (value,)
    if not number.group("float"):
        return (value, int(value))
    as_float = float(value)
    if as_float in (float("inf"), float("-inf")):
        return (value,)
    return (value, as_float)


def all_match(filters: Sequence[FieldFilter], payload: Any) -> bool:
    """
    Whether every filter matches ``payload`` (the filters are ANDed).
    """
    return all(f.matches(payload) for f in filters)
