"""
Tests for audit_logging._model.encoding: the documented fallback table and the one-line promise.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import json
import uuid
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from audit_logging._model.encoding import MAX_DEPTH, dumps, json_default, make_safe

UTC = dt.UTC


def strict_loads(data: bytes) -> Any:
    """json.loads that refuses NaN/Infinity and anything but valid UTF-8."""

    def refuse(constant: str) -> Any:
        raise ValueError(f"non-standard JSON constant {constant}")

    return json.loads(data.decode("utf-8"), parse_constant=refuse)


class Color(enum.Enum):
    RED = "red"


class Level(enum.IntEnum):
    HIGH = 3


@dataclasses.dataclass(frozen=True)
class Point:
    x: int
    y: Any


class Unprintable:
    def __str__(self) -> str:
        raise RuntimeError("no str for you")


class Plain:
    def __str__(self) -> str:
        return "plain!"


class Unorderable:
    def __lt__(self, other: object) -> bool:
        raise ValueError("cannot compare")

    def __str__(self) -> str:
        return "u"


FALLBACK_TABLE = [
    pytest.param(
        dt.datetime(2024, 1, 2, 3, 4, 5, 6, tzinfo=UTC),
        "2024-01-02T03:04:05.000006Z",
        id="aware-datetime",
    ),
    pytest.param(
        dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.timezone(dt.timedelta(hours=2))),
        "2024-01-02T03:04:05+02:00",
        id="offset-datetime",
    ),
    pytest.param(dt.datetime(2024, 1, 2, 3, 4, 5), "2024-01-02T03:04:05", id="naive-datetime"),
    pytest.param(dt.date(2024, 1, 2), "2024-01-02", id="date"),
    pytest.param(dt.time(3, 4, 5), "03:04:05", id="time"),
    pytest.param(dt.time(3, 4, 5, tzinfo=UTC), "03:04:05+00:00", id="aware-time"),
    pytest.param(Decimal("1.10"), "1.10", id="decimal"),
    pytest.param(
        Decimal("3.14159265358979323846264338327950288"),
        "3.14159265358979323846264338327950288",
        id="decimal-precision",
    ),
    pytest.param(
        uuid.UUID("01890a5d-ac96-774b-bcce-b302099a8057"),
        "01890a5d-ac96-774b-bcce-b302099a8057",
        id="uuid",
    ),
    pytest.param(b"\xff\x00", "base64:/wA=", id="bytes"),
    pytest.param(bytearray(b"ab"), "base64:YWI=", id="bytearray"),
    pytest.param(memoryview(b"ab"), "base64:YWI=", id="memoryview"),
    pytest.param({3, 1, 2}, [1, 2, 3], id="set"),
    pytest.param(frozenset({"b", "a"}), ["a", "b"], id="frozenset"),
    pytest.param((1, "a"), [1, "a"], id="tuple"),
    pytest.param(Point(1, (2, 3)), {"x": 1, "y": [2, 3]}, id="dataclass"),
    pytest.param(Color.RED, "red", id="enum"),
    pytest.param(Level.HIGH, 3, id="int-enum"),
    pytest.param(ValueError("boom"), "ValueError: boom", id="exception"),
    pytest.param(Unprintable(), "<unprintable Unprintable>", id="raising-str"),
    pytest.param(Plain(), "plain!", id="object"),
    pytest.param(float("nan"), None, id="nan"),
    pytest.param(float("inf"), None, id="inf"),
    pytest.param(float("-inf"), None, id="-inf"),
    pytest.param(
        {1: "a", (1, 2): "b", None: "c"}, {"1": "a", "(1, 2)": "b", "None": "c"}, id="keys"
    ),
    pytest.param("a\udc80b", "a\\udc80b", id="lone-surrogate"),
    pytest.param({"k\ud800": 1}, {"k\\ud800": 1}, id="surrogate-key"),
    pytest.param(2**100, 2**100, id="big-int"),
    pytest.param(-(2**200), -(2**200), id="big-negative-int"),
    pytest.param({"n": 2**64, "s": "\u2028"}, {"n": 2**64, "s": "\u2028"}, id="big-int-separator"),
]


@pytest.mark.parametrize(("value", "expected"), FALLBACK_TABLE)
def test_dumps_follows_fallback_table(value: Any, expected: Any) -> None:
    """dumps encodes each kind of value as the module's fallback table says."""
    assert strict_loads(dumps({"v": value})) == {"v": expected}


@pytest.mark.parametrize(("value", "expected"), FALLBACK_TABLE)
def test_make_safe_agrees_with_dumps(value: Any, expected: Any) -> None:
    """make_safe gives the same plain tree that dumps writes (to_dict == parsed to_json)."""
    assert make_safe({"v": value}) == {"v": expected}


def test_unorderable_set_becomes_list() -> None:
    """A set whose items refuse to compare (even with ValueError) is still encoded."""
    result = strict_loads(dumps({"s": {Unorderable(), Unorderable()}}))
    assert result == {"s": ["u", "u"]}


def test_exception_with_raising_str() -> None:
    """An exception whose __str__ raises is encoded by type name."""

    class Nasty(Exception):
        def __str__(self) -> str:
            raise RuntimeError("no")

    assert strict_loads(dumps(Nasty())) == "Nasty: <unprintable Nasty>"


def test_json_default_never_returns_unencodable() -> None:
    """json_default maps an unknown object to its str()."""
    assert json_default(Plain()) == "plain!"


def test_list_cycle_is_marked() -> None:
    """A list that contains itself encodes as a cycle marker."""
    loop: list[Any] = [1]
    loop.append(loop)
    assert strict_loads(dumps(loop)) == [1, "<cycle>"]


def test_dict_cycle_is_marked() -> None:
    """A dict that contains itself encodes as a cycle marker."""
    loop: dict[str, Any] = {"a": 1}
    loop["self"] = loop
    assert strict_loads(dumps(loop)) == {"a": 1, "self": "<cycle>"}


def test_shared_reference_is_not_a_cycle() -> None:
    """The same object twice side by side is not a cycle."""
    shared = {"k": {1, 2}}
    assert strict_loads(dumps([shared, shared])) == [{"k": [1, 2]}, {"k": [1, 2]}]


def _nested(depth: int) -> Any:
    value: Any = "bottom"
    for _ in range(depth):
        value = {"d": [value]}
    return value


def _depth_of(value: Any) -> int:
    depth = 0
    while isinstance(value, dict | list):
        value = value["d"] if isinstance(value, dict) else value[0]
        depth += 1
    return depth


@pytest.mark.timeout(30)
def test_ten_thousand_deep_nesting_is_marked() -> None:
    """Nesting 10,000 deep encodes (no RecursionError) with a max-depth marker."""
    data = dumps(_nested(5_000))
    parsed = strict_loads(data)
    assert b"<max depth exceeded>" in data
    assert _depth_of(parsed) == MAX_DEPTH


def test_shallow_nesting_is_kept() -> None:
    """Nesting within orjson's limit is encoded as it is."""
    assert strict_loads(dumps(_nested(100))) == _nested(100)


@pytest.mark.parametrize(
    "text",
    [
        "line1\nline2",
        "cr\rlf\r\n",
        "sep\u2028para\u2029",
        "nel\x85",
        "\x1b[31mred\x1b[0m",
        "nul\x00",
        "vt\x0bff\x0c",
        "fs\x1cgs\x1drs\x1e",
    ],
)
def test_line_breaks_and_escapes_never_appear_raw(text: str) -> None:
    """Characters that break lines or drive terminals are escaped, in values and keys."""
    for value in (text, {text: text}, {"n": 2**70, "t": text}):
        data = dumps(value)
        assert data.decode("utf-8").splitlines() == [data.decode("utf-8")]
        assert not any(raw in data for raw in (b"\n", b"\r", b"\x1b", b"\x00", b"\x85"))
        assert "\u2028".encode() not in data
        assert "\u2029".encode() not in data
        assert strict_loads(data) == value


def test_large_string_and_many_keys() -> None:
    """A 1 MB string and 100,000 keys encode to one valid line."""
    value = {"big": "x\u2028" * 500_000, **{f"k{i}": i for i in range(100_000)}}
    data = dumps(value)
    assert b"\n" not in data
    parsed = strict_loads(data)
    assert len(parsed) == 100_001
    assert parsed["big"] == value["big"]


hostile_text = st.one_of(
    st.text(),
    st.text(st.characters(codec=None, categories=["Cs", "Zl", "Zp", "Cc", "Lo"])),
    st.sampled_from(["\r\n", "\u2028", "\x1b[31m", "\x00", "\udc80", "\x85", "\ufeff"]),
)

hostile_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=2**63, max_value=2**200),
    st.floats(),
    hostile_text,
    st.binary(max_size=16),
    st.decimals(),
    st.datetimes(timezones=st.none() | st.just(UTC)),
    st.uuids(),
    st.sets(st.integers(), max_size=3),
    st.builds(ValueError, hostile_text),
)

hostile_values = st.recursive(
    hostile_scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.tuples(children, children),
        st.dictionaries(hostile_text, children, max_size=4),
        st.dictionaries(st.integers() | st.tuples(st.integers()), children, max_size=3),
        st.builds(Point, st.integers(), children),
    ),
    max_leaves=10,
)


@settings(max_examples=75)
@given(hostile_values)
def test_dumps_is_one_strict_json_line(value: Any) -> None:
    """Whatever the value, dumps gives one line that a strict JSON parser accepts."""
    data = dumps(value)
    text = data.decode("utf-8")
    assert text.splitlines() == [text]
    strict_loads(data)


@settings(max_examples=50)
@given(hostile_values)
def test_make_safe_matches_parsed_dumps(value: Any) -> None:
    """make_safe(v) equals the parsed dumps(v), so to_dict and to_json agree."""
    assert make_safe(value) == strict_loads(dumps(value))
