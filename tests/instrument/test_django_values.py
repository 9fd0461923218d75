"""
Model field values as JSON values, and the diff of two states (no Django settings needed).
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

import pytest

from audit_logging._instrument.django.values import diff, json_safe

pytest.importorskip("django")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        (True, True),
        (12, 12),
        (1.5, 1.5),
        (float("nan"), "nan"),
        ("text", "text"),
        (Decimal("19.90"), "19.90"),
        (dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC), "2026-01-02T03:04:05+00:00"),
        (dt.date(2026, 1, 2), "2026-01-02"),
        (dt.time(3, 4), "03:04:00"),
        (dt.timedelta(hours=1, seconds=2), "P0DT01H00M02S"),
        (uuid.UUID(int=1), "00000000-0000-0000-0000-000000000001"),
        (b"\x00\x01", "<2 bytes>"),
        ({"a": [Decimal("1.1"), {"b": None}]}, {"a": ["1.1", {"b": None}]}),
        ((1, 2), [1, 2]),
    ],
)
def test_json_safe_keeps_json_types_and_converts_the_rest(value: object, expected: object) -> None:
    """Numbers and booleans stay; Decimal exact text; dates ISO 8601; bytes a size."""
    assert json_safe(value) == expected


def test_json_safe_caps_nesting() -> None:
    """A JSONField value nested deeper than the cap ends in a marker, not a RecursionError."""
    value: object = "leaf"
    for _ in range(100):
        value = [value]
    out = json_safe(value)
    for _ in range(16):
        assert isinstance(out, list)
        out = out[0]
    assert out == "<nested too deep>"


def test_diff_of_an_update_lists_only_changed_fields() -> None:
    """Equal Python values (Decimal 9.90 vs "9.9" text) are no change."""
    old = {"name": "Lamp", "price": Decimal("9.90"), "stock": 3}
    new = {"name": "Lamp", "price": "9.9", "stock": 4}
    assert diff(old, new) == {"stock": [3, 4]}


def test_diff_of_a_creation_and_a_deletion() -> None:
    """Creation: [None, value] for the set fields; deletion: [value, None] for all."""
    assert diff(None, {"a": 1, "b": None}) == {"a": [None, 1]}
    assert diff({"a": 1, "b": None}, None) == {"a": [1, None], "b": [None, None]}


def test_diff_without_old_values_reports_every_field() -> None:
    """An update whose stored row could not be read: every field, old unknown (None)."""
    assert diff({}, {"a": 1}) == {"a": [None, 1]}
