"""
Hostile values and the strict checks every artifact must pass (RELIABILITY S10).

Not fixtures: plain values, hypothesis strategies and assertion helpers shared by
the hostile-input test modules.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from audit_logging.schemas import get_schema

RAW_LINE_BREAKS = ("\r", "\u2028", "\u2029", "\u0085", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e")
"""Characters str.splitlines (and some viewers) treat as line breaks: never raw in a line."""

INJECTION_TEXTS = (
    "a\r\nforged line",
    'x\n{"id":"forged"}',
    "line\u2028separator\u2029para\u0085nel",
    "\x1b[31mred\x1b[0m\x1b]0;title\x07\x1b[2J",
    "nul\x00byte",
    "lone \udc80 surrogate",
    "\ud800",
    "bidi \u202eevil",
    "\ufeffbom",
    "\x7fdel\x9bcsi",
    "\t\v\f\x1c\x1d\x1e",
    "emoji \U0001f600 and \U000e0041 tag",
)
"""Strings that try to break a line, a terminal or an encoder."""

HOSTILE_SETTINGS = settings(
    max_examples=300 if os.environ.get("AUDIT_SOAK") == "1" else 30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    derandomize=False,
)
"""Bounded hypothesis settings for tests that run the real bus and sinks per example
(ten times the examples with ``AUDIT_SOAK=1``)."""


class RaisingStr:
    """An object whose ``__str__`` and ``__repr__`` raise."""

    def __str__(self) -> str:
        raise RuntimeError("__str__ refuses")

    def __repr__(self) -> str:
        raise RuntimeError("__repr__ refuses")


class RaisingItems(dict[str, Any]):
    """A dict subclass whose ``items()``/``keys()``/iteration raise (the data is still there)."""

    def items(self) -> Any:
        raise RuntimeError("items refuses")

    def keys(self) -> Any:
        raise RuntimeError("keys refuses")

    def __iter__(self) -> Any:
        raise RuntimeError("iter refuses")


class RaisingLen(dict[str, Any]):
    """A dict subclass whose ``len()`` raises."""

    def __len__(self) -> int:
        raise RuntimeError("len refuses")


def nested_dict(depth: int, leaf: Any = "bottom") -> dict[str, Any]:
    """``{"a": {"a": ... leaf}}`` ``depth`` levels deep, built without recursion."""
    root: dict[str, Any] = {}
    node = root
    for _ in range(depth - 1):
        child: dict[str, Any] = {}
        node["a"] = child
        node = child
    node["a"] = leaf
    return root


def nested_list(depth: int) -> list[Any]:
    """``[[[...]]]`` ``depth`` levels deep."""
    root: list[Any] = []
    node = root
    for _ in range(depth - 1):
        child: list[Any] = []
        node.append(child)
        node = child
    return root


def self_referencing() -> dict[str, Any]:
    """A dict that holds itself, a list that holds itself, and a two-step cycle."""
    d: dict[str, Any] = {"name": "loop"}
    d["self"] = d
    lst: list[Any] = [1]
    lst.append(lst)
    a: dict[str, Any] = {}
    b: dict[str, Any] = {"a": a}
    a["b"] = b
    return {"dict": d, "list": lst, "pair": a}


def fixed_hostile_values() -> dict[str, Any]:
    """
    One fresh value per hostile case of RELIABILITY S10 and issue #8 (small ones).

    Fresh on every call: some are mutable or cyclic.
    """
    return {
        **{f"text_{i}": text for i, text in enumerate(INJECTION_TEXTS)},
        "raw_bytes": b"\xff\xfe\x00",
        "bytearray": bytearray(b"\x80abc"),
        "nan": float("nan"),
        "inf": float("inf"),
        "-inf": float("-inf"),
        "decimal": Decimal("3.14159265358979323846264338327950288"),
        "decimal_nan": Decimal("NaN"),
        "decimal_snan": Decimal("sNaN"),
        "decimal_inf": Decimal("-Infinity"),
        "aware_datetime": dt.datetime(2024, 2, 29, 23, 59, 59, 999999, tzinfo=dt.UTC),
        "naive_datetime": dt.datetime(2024, 1, 2, 3, 4, 5),
        "date": dt.date(2024, 1, 2),
        "uuid": uuid.UUID(int=7),
        "set": {3, 1, 2},
        "mixed_set": {1, "a", (2, 3)},
        "frozenset": frozenset({"b", "a"}),
        "tuple_keys": {(1, 2): "tuple key", None: "none key", 3.5: "float key", b"k": "bytes key"},
        "surrogate_key": {"\udc80": 1, "a\nb": 2, "\x1b[31m": 3},
        "object": object(),
        "raising_str": RaisingStr(),
        "raising_items": RaisingItems(secret="hidden"),
        "exception": ValueError("boom\nsecond line"),
        "huge_int": 10**400,
        "negative_huge_int": -(2**70),
        "self_referencing": self_referencing(),
        "nested_1000_dict": nested_dict(1000),
        "nested_1000_list": nested_list(1000),
        "type": type,
        "function": len,
    }


# -- hypothesis strategies ---------------------------------------------------------------

any_char = st.characters(exclude_categories=())
"""Every code point, lone surrogates and control characters included."""

hostile_text = st.one_of(
    st.text(any_char, max_size=40),
    st.sampled_from(INJECTION_TEXTS),
    st.lists(
        st.one_of(st.sampled_from(INJECTION_TEXTS), st.text(any_char, max_size=5)), max_size=4
    ).map("".join),
)
"""Text that is hostile often: arbitrary code points plus known injection strings."""

custom_event_types = hostile_text.filter(lambda t: bool(t) and get_schema(t) is None)
"""Non-empty hostile types without a schema (a predefined type needs its schema's payload)."""

hostile_keys = st.one_of(
    hostile_text,
    st.integers(),
    st.tuples(st.integers(), hostile_text),
    st.none(),
    st.booleans(),
    st.floats(allow_nan=False),
    st.binary(max_size=8),
    st.frozensets(st.integers(), max_size=3),
)
"""Dict keys of any hashable kind (JSON allows only strings)."""

hostile_leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**64), max_value=2**64),
    # Beyond 64 bits, below 1e308: integers above a double's range are the known spill
    # replay bug (test_spill_hostile.test_integer_beyond_double_range_replays).
    st.integers(min_value=2**63, max_value=2**1000),
    st.floats(allow_nan=True, allow_infinity=True),
    hostile_text,
    st.binary(max_size=16),
    st.decimals(allow_nan=True, allow_infinity=True),
    st.datetimes(timezones=st.sampled_from([None, dt.UTC, dt.timezone(dt.timedelta(hours=-7))])),
    st.dates(),
    st.uuids(),
    st.builds(object),
    st.builds(RaisingStr),
    st.builds(ValueError, hostile_text),
    st.frozensets(st.integers(), max_size=3),
    st.sets(st.one_of(st.integers(), st.text(max_size=3)), max_size=3),
)
"""Every kind of leaf a payload may carry, JSON-able or not."""

hostile_payloads = st.recursive(
    hostile_leaves,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.tuples(children, children),
        st.dictionaries(hostile_text, children, max_size=4),
        st.dictionaries(hostile_keys, children, max_size=3),
    ),
    max_leaves=12,
)
"""Nested payloads of hostile leaves, hostile keys and every container kind."""


# -- strict checks -----------------------------------------------------------------------


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"bare {name} in JSON")


def strict_loads(line: bytes | str) -> Any:
    """
    Parse one JSON line strictly: NaN/Infinity literals, invalid UTF-8 and raw line
    breaks are failures.
    """
    text = line.decode("utf-8") if isinstance(line, bytes) else line
    for ch in ("\n", *RAW_LINE_BREAKS):
        assert ch not in text, f"raw {ch!r} inside a JSON line: {text[:200]!r}"
    return json.loads(text, parse_constant=_refuse_constant)


def jsonl_records(data: bytes) -> list[Any]:
    """
    Every line of a JSON-lines blob, strictly parsed; the blob ends with a newline
    and the number of records equals ``wc -l``.
    """
    if not data:
        return []
    assert data.endswith(b"\n"), "the last line is not terminated"
    lines = data.split(b"\n")[:-1]
    assert len(lines) == data.count(b"\n")  # wc -l
    return [strict_loads(line) for line in lines]


def file_records(path: Path) -> list[Any]:
    """The strictly parsed lines of one file (see :func:`jsonl_records`)."""
    return jsonl_records(path.read_bytes())


def spill_records(directory: Path) -> list[Any]:
    """The strictly parsed lines of every spill file in ``directory`` (not quarantine)."""
    records: list[Any] = []
    for path in sorted(directory.glob("*.jsonl")):
        records.extend(file_records(path))
    return records
