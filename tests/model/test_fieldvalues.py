"""
Tests for audit_logging._model.fieldvalues: the bounded plain-JSON copy of log ``fields``.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import uuid
from collections.abc import Iterator, Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest

from audit_logging._model.encoding import dumps, loads, make_safe
from audit_logging._model.fieldvalues import (
    MAX_FIELD_DEPTH,
    MAX_FIELD_ITEMS,
    field_map,
    field_value,
    request_text,
)


class _Request:
    """A Django-like request: method and path, plus what must never be copied."""

    method = "POST"
    path = "/login"

    def __init__(self) -> None:
        self.COOKIES = {"sessionid": "s3cr3t"}
        self.headers = {"Authorization": "Bearer s3cr3t"}

    def __str__(self) -> str:
        return "<Request POST /login?token=s3cr3t>"


class _URL:
    path = "/items/7"


class _ScopeRequest(Mapping[str, Any]):
    """A Starlette-like request: a Mapping over the ASGI scope (headers included), with url.path."""

    method = "GET"
    url = _URL()

    def __init__(self) -> None:
        self._scope = {"type": "http", "headers": [(b"cookie", b"sessionid=s3cr3t")]}

    def __getitem__(self, key: str) -> Any:
        return self._scope[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._scope)

    def __len__(self) -> int:
        return len(self._scope)


class _Color(enum.Enum):
    RED = "red"


@dataclasses.dataclass
class _Point:
    x: int
    tags: list[str]


def test_json_types_are_kept() -> None:
    """Strings, numbers, booleans, None, lists and nested dicts keep their JSON types."""
    value = {"s": "x", "i": -3, "f": 12.5, "t": True, "n": None, "l": [1, "a"], "d": {"e": {}}}
    assert field_map(value) == value


def test_the_copy_shares_no_mutable_object_with_the_caller() -> None:
    """Every dict and list is new: mutating the caller's objects later changes nothing."""
    inner: dict[str, Any] = {"l": [1, 2]}
    given = {"inner": inner, "rows": [inner]}
    copied = field_map(given)
    inner["l"].append(3)
    inner["added"] = 1
    assert copied == {"inner": {"l": [1, 2]}, "rows": [{"l": [1, 2]}]}
    assert copied["inner"] is not inner
    assert copied["inner"]["l"] is not inner["l"]


def test_what_json_cannot_hold_takes_the_encoding_fallback() -> None:
    """Each value is what make_safe (the documented encoder fallback) makes of it."""
    values: dict[str, Any] = {
        "dec": Decimal("12.50"),
        "aware": datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
        "day": date(2026, 1, 2),
        "id": uuid.UUID(int=1),
        "raw": b"\x00\xff",
        "tuple": (1, (2,)),
        "set": {3, 1, 2},
        "enum": _Color.RED,
        "dc": _Point(1, ["a"]),
        "exc": ValueError("bad"),
        "nan": float("nan"),
        "inf": float("-inf"),
        "obj": object.__new__(_URL),
    }
    copied = field_map(values)
    assert copied == make_safe(values)
    assert copied["dec"] == "12.50"
    assert copied["aware"] == "2026-01-02T03:04:05Z"
    assert copied["raw"] == "base64:AP8="
    assert copied["set"] == [1, 2, 3]
    assert copied["nan"] is None
    assert copied["dc"] == {"x": 1, "tags": ["a"]}


def test_subclasses_of_str_int_and_float_become_the_plain_type() -> None:
    """A subclass cannot smuggle its own __str__ or methods into the payload."""

    class Text(str):
        def __str__(self) -> str:
            raise RuntimeError("no")

    class Count(int):
        pass

    class Ratio(float):
        pass

    copied = field_map({"t": Text("abc"), "c": Count(4), "r": Ratio(0.5), "i": Ratio("nan")})
    assert copied == {"t": "abc", "c": 4, "r": 0.5, "i": None}
    assert [type(copied[k]) for k in ("t", "c", "r")] == [str, int, float]


def test_non_ascii_and_lone_surrogates_stay_encodable() -> None:
    """Non-ASCII text is kept; a lone surrogate (in a key or value, at any depth) is escaped."""
    copied = field_map({"name": "Zoë", "bad\udc80": "x\ud800", "d": {"k": ["\udfff"]}})
    assert copied == {"name": "Zoë", "bad\\udc80": "x\\ud800", "d": {"k": ["\\udfff"]}}
    json.dumps(copied, ensure_ascii=False).encode("utf-8")  # no lone surrogate left


def test_non_string_keys_become_text() -> None:
    """JSON object keys are strings: other keys become their str(), at every depth."""
    assert field_map({1: {2: "x", None: [1]}}) == {"1": {"2": "x", "None": [1]}}


@pytest.mark.parametrize("request_obj", [_Request(), _ScopeRequest()], ids=["django", "asgi"])
def test_a_request_becomes_method_and_path_at_any_depth(request_obj: Any) -> None:
    """A request is "METHOD /path" at the top, in a dict and in a list; its secrets never appear."""
    copied = field_map({"request": request_obj, "ctx": {"req": request_obj}, "l": [request_obj]})
    text = request_text(request_obj)
    assert text in ("POST /login", "GET /items/7")
    assert copied == {"request": text, "ctx": {"req": text}, "l": [text]}
    assert b"s3cr3t" not in dumps(copied)


def test_only_objects_are_taken_for_requests() -> None:
    """A dict with method/path keys is data; an object without a string path is no request."""
    assert request_text({"method": "GET", "path": "/"}) is None
    assert request_text("GET /") is None

    class NoPath:
        method = "GET"
        path = 3

    assert request_text(NoPath()) is None
    assert field_value({"method": "GET", "path": "/"}) == {"method": "GET", "path": "/"}


def test_nesting_is_capped_with_a_marker() -> None:
    """Containers nested deeper than MAX_FIELD_DEPTH become "<max depth exceeded>"."""
    deep: dict[str, Any] = {}
    node = deep
    for _ in range(MAX_FIELD_DEPTH + 5):
        node["k"] = {}
        node = node["k"]
    copied = field_value(deep)
    levels = 0
    while isinstance(copied, dict):
        copied = copied["k"]
        levels += 1
    assert levels == MAX_FIELD_DEPTH
    assert copied == "<max depth exceeded>"


def test_a_long_list_is_cut_visibly() -> None:
    """At most MAX_FIELD_ITEMS values are copied; the list ends with how many were left out."""
    copied = field_map({"ids": list(range(MAX_FIELD_ITEMS * 3))})
    ids = copied["ids"]
    assert ids[: MAX_FIELD_ITEMS - 1] == list(range(MAX_FIELD_ITEMS - 1))  # the key counted one
    assert len(ids) == MAX_FIELD_ITEMS
    assert ids[-1] == f"<truncated: {MAX_FIELD_ITEMS * 2 + 1} more>"


def test_a_wide_map_is_cut_visibly() -> None:
    """A fields map with too many keys keeps the first ones and says how many were left out."""
    copied = field_map({f"k{i}": i for i in range(MAX_FIELD_ITEMS + 10)})
    assert len(copied) == MAX_FIELD_ITEMS + 1
    assert copied["<truncated>"] == "<truncated: 10 more>"
    nested = field_map({"a": [0] * 10, "d": {f"k{i}": i for i in range(MAX_FIELD_ITEMS)}})
    assert nested["d"]["<truncated>"] == f"<truncated: {10 + 2} more>"
    assert len(loads(dumps(nested))["d"]) == MAX_FIELD_ITEMS - 12 + 1


def test_the_budget_is_shared_by_the_whole_event() -> None:
    """Many medium lists cannot add up past the budget."""
    copied = field_map({f"l{i}": list(range(300)) for i in range(10)})
    counted = sum(1 + len(v) for v in copied.values() if isinstance(v, list))
    assert counted <= MAX_FIELD_ITEMS + len(copied)
    assert copied["<truncated>"].startswith("<truncated:")


def test_cycles_are_cut() -> None:
    """A reference cycle becomes "<cycle>"; a shared (acyclic) child is copied each time."""
    loop: dict[str, Any] = {"a": 1}
    loop["self"] = loop
    shared = [1]
    assert field_value(loop) == {"a": 1, "self": "<cycle>"}
    assert field_map({"x": shared, "y": shared}) == {"x": [1], "y": [1]}


def test_a_container_that_raises_is_marked_unreadable() -> None:
    """A mapping whose items() raises is not passed on, and nothing raises into the log call."""

    class Broken(Mapping[str, Any]):
        def __getitem__(self, key: str) -> Any:
            raise KeyError(key)

        def __iter__(self) -> Iterator[str]:
            raise RuntimeError("no")

        def __len__(self) -> int:
            return 1

    assert field_map({"b": Broken(), "ok": 1}) == {"b": "<unreadable Broken>", "ok": 1}


def test_objects_that_raise_never_raise_into_the_log_call() -> None:
    """An object whose __class__ or __str__ raises becomes a marker, as the encoder would write."""

    class NoClass:
        @property  # type: ignore[misc]
        def __class__(self) -> type:  # type: ignore[override]
            raise RuntimeError("no class")

    class NoStr:
        def __str__(self) -> str:
            raise RuntimeError("no str")

    copied = field_map({"c": NoClass(), "s": NoStr()})
    assert copied == {"c": "<unreadable NoClass>", "s": "<unprintable NoStr>"}


def test_none_and_empty_are_an_empty_map() -> None:
    """No fields is {} (a fresh dict)."""
    assert field_map(None) == {}
    assert field_map({}) == {}
