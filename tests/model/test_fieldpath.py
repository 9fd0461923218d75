"""
Tests for audit_logging._model.fieldpath: what a ``key=value`` payload filter accepts and
which JSON values it matches (the meaning every backend and the file reader share).
"""

from __future__ import annotations

import pytest

from audit_logging._model.fieldpath import parse_filter


def test_the_first_equals_sign_splits_and_the_path_is_dotted() -> None:
    f = parse_filter("user.id=a=b")
    assert f.path == ("user", "id")
    assert f.candidates == ("a=b",)
    assert f.nested("x") == {"user": {"id": "x"}}


@pytest.mark.parametrize(
    ("value", "candidates"),
    [
        ("42", ("42", 42)),
        ("-1.5e3", ("-1.5e3", -1500.0)),
        ("true", ("true", True)),
        ("null", ("null", None)),
        ("042", ("042",)),
        ("1e999", ("1e999",)),
        ("NaN", ("NaN",)),
        ("", ("",)),
    ],
)
def test_values_spelling_a_json_scalar_also_match_it(value: str, candidates: tuple) -> None:
    assert parse_filter(f"k={value}").candidates == candidates


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ({"k": "42"}, True),
        ({"k": 42}, True),
        ({"k": 42.0}, True),
        ({"k": True}, False),
        ({"k": [42]}, False),
        ({"k": {"v": 42}}, False),
        ({"K": 42}, False),
        ({}, False),
        ([42], False),
        (None, False),
    ],
)
def test_matching(payload: object, expected: bool) -> None:
    assert parse_filter("k=42").matches(payload) is expected


def test_strings_match_exactly() -> None:
    f = parse_filter("a.b=U1")
    assert f.matches({"a": {"b": "U1"}})
    assert not f.matches({"a": {"b": "u1"}})
    assert not f.matches({"a": "U1"})
    assert parse_filter("k=true").matches({"k": "true"})
    assert not parse_filter("k=1").matches({"k": True})


@pytest.mark.parametrize("bad", ["k", "=v", "a b=1", "a..b=1", "a.=1", "1a=1", "a-b=1", "ü=1"])
def test_bad_keys_are_refused_naming_them(bad: str) -> None:
    with pytest.raises(ValueError, match=r"KEY=VALUE|invalid payload key") as info:
        parse_filter(bad)
    if "=" in bad:
        assert repr(bad.partition("=")[0]) in str(info.value)
