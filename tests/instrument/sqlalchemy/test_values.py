"""
JSON-safe values, record ids and the field filter of the SQLAlchemy instrumentation.
"""

from __future__ import annotations

import datetime as dt
import enum
import json
import uuid
from decimal import Decimal

import pytest

from audit_logging._instrument.sqlalchemy.values import FieldFilter, json_safe, record_id


class Colour(enum.Enum):
    RED = "red"


class Level(enum.IntEnum):
    HIGH = 3


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        (True, True),
        (7, 7),
        ("x", "x"),
        (1.5, 1.5),
        (float("nan"), "nan"),
        (Decimal("19.99"), "19.99"),
        (dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC), "2026-01-02T03:04:05+00:00"),
        (dt.date(2026, 1, 2), "2026-01-02"),
        (dt.time(3, 4), "03:04:00"),
        (dt.timedelta(minutes=2), 120.0),
        (uuid.UUID(int=1), "00000000-0000-0000-0000-000000000001"),
        (Colour.RED, "red"),
        (Level.HIGH, 3),
        (b"\x00\x01\x02", "<3 bytes>"),
        ({"a": [Decimal("1"), {2: b"x"}]}, {"a": ["1", {"2": "<1 bytes>"}]}),
        ((1, 2), [1, 2]),
        (object.__new__(type("Thing", (), {"__str__": lambda self: "thing"})), "thing"),
    ],
)
def test_json_safe(value: object, expected: object) -> None:
    """Each type becomes the documented JSON value, and the result encodes."""
    got = json_safe(value)
    assert got == expected
    json.dumps(got)


def test_json_safe_stops_at_depth() -> None:
    """A deeply nested value ends as text rather than recursing forever."""
    nested: list[object] = []
    cur = nested
    for _ in range(40):
        nxt: list[object] = []
        cur.append(nxt)
        cur = nxt
    json.dumps(json_safe(nested))


def test_record_id() -> None:
    """One key as text, a composite joined with commas."""
    assert record_id([5]) == "5"
    assert record_id([5, "north"]) == "5,north"
    assert record_id([uuid.UUID(int=2)]) == "00000000-0000-0000-0000-000000000002"


def test_field_filter() -> None:
    """Bare names apply to every model, Model.field to one; exclude wins."""
    everything = FieldFilter()
    assert everything.keeps("Product", "price")
    ex = FieldFilter(exclude=["password", "User.email"])
    assert not ex.keeps("User", "password")
    assert not ex.keeps("User", "email")
    assert ex.keeps("Customer", "email")
    only = FieldFilter(include=["Product.price"])
    assert only.keeps("Product", "price")
    assert not only.keeps("Product", "name")
    assert only.keeps("User", "name")  # a model the include list does not mention stays whole
    bare = FieldFilter(include=["name"], exclude=["Product.name"])
    assert bare.keeps("User", "name")
    assert not bare.keeps("User", "email")
    assert not bare.keeps("Product", "name")
    with pytest.raises(TypeError):
        FieldFilter(include="name")
    with pytest.raises(TypeError):
        FieldFilter(exclude=[""])
