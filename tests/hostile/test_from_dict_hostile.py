"""
Malformed input to ``Event.from_dict`` (what spill replay, the DB reader and ``tail`` feed it).

Pass criteria (issue #8, RELIABILITY S7/S10): any malformed canonical dict raises
``ValueError`` (never ``TypeError``, ``KeyError``, ``OverflowError`` or a crash)
whose message names the offending field and quotes at most a short, escaped part of
the value; every well-formed dict comes back unchanged through ``to_dict``.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from audit_logging.events import Event, new_event
from tests.hostile._hostile import HOSTILE_SETTINGS, RaisingStr, hostile_text

pytestmark = pytest.mark.timeout(60)

FIELDS = ("id", "type", "time", "source", "context_id", "trace_id", "span_id", "payload")


def good() -> dict[str, Any]:
    return new_event("t", "s", {"k": [1, "v"]}, context_id="c").to_dict()


MALFORMED = [
    pytest.param({"id": None}, "id", id="id-missing"),
    pytest.param({"id": 5}, "id", id="id-int"),
    pytest.param({"id": "x" * 100_000}, "id", id="id-huge"),
    pytest.param({"id": "\udc80" * 36}, "id", id="id-surrogates"),
    pytest.param({"id": "\uff11" * 8 + "-0000-0000-0000-000000000000"}, "id", id="id-fullwidth"),
    pytest.param({"id": "0" * 8 + "-0000-0000-0000-00000000000\n"}, "id", id="id-newline"),
    pytest.param({"type": None}, "type", id="type-missing"),
    pytest.param({"type": ""}, "type", id="type-empty"),
    pytest.param({"type": ["log_info"]}, "type", id="type-list"),
    pytest.param({"time": None}, "time", id="time-missing"),
    pytest.param({"time": 1700000000}, "time", id="time-epoch"),
    pytest.param({"time": "yesterday"}, "time", id="time-word"),
    pytest.param({"time": "2024-01-01T00:00:00"}, "time", id="time-naive"),
    pytest.param({"time": "2024-01-01\x0000:00:00Z"}, "time", id="time-nul-separator"),
    pytest.param({"time": "2024-01-01T00:00:00\n+00:00"}, "time", id="time-newline"),
    pytest.param({"time": "20240101T000000Z"}, "time", id="time-basic-format"),
    pytest.param({"time": "2024-W01-1T00:00:00Z"}, "time", id="time-week-date"),
    pytest.param({"time": "2024-13-01T00:00:00Z"}, "time", id="time-month-13"),
    pytest.param({"time": "9999-12-31T23:59:59-23:59"}, "time", id="time-overflow"),
    pytest.param({"time": "\u0662024-01-01T00:00:00Z"}, "time", id="time-arabic-digit"),
    pytest.param({"time": "2024-01-01T00:00:00Z" + " " * 100_000}, "time", id="time-padded"),
    pytest.param({"source": 1}, "source", id="source-int"),
    pytest.param({"source": {"a": 1}}, "source", id="source-dict"),
    pytest.param({"context_id": []}, "context_id", id="context-list"),
    pytest.param({"trace_id": "z" * 32, "span_id": "1" * 16}, "trace_id", id="trace-not-hex"),
    pytest.param({"trace_id": "1" * 31, "span_id": "1" * 16}, "trace_id", id="trace-short"),
    pytest.param({"trace_id": "1" * 32}, "span_id", id="span-missing"),
    pytest.param({"trace_id": "1" * 32, "span_id": 7}, "span_id", id="span-int"),
    pytest.param(
        {"trace_id": "\uff11" * 32, "span_id": "1" * 16}, "trace_id", id="trace-fullwidth"
    ),
]


@pytest.mark.parametrize(("change", "field"), MALFORMED)
def test_malformed_field_raises_value_error_naming_it(change: dict[str, Any], field: str) -> None:
    """Each malformed field gives ValueError naming the field, with a short message."""
    data = good() | change
    with pytest.raises(ValueError, match=f"'{field}'") as info:
        Event.from_dict(data)
    message = str(info.value)
    assert len(message) < 200
    assert "\n" not in message
    assert "\x00" not in message


@pytest.mark.parametrize("data", [None, [], "event", 5, b"{}", RaisingStr(), {}])
def test_not_an_object_or_empty_raises_value_error(data: Any) -> None:
    """A non-mapping (or an empty mapping) is a ValueError, not a TypeError."""
    with pytest.raises(ValueError, match=r"JSON object|'id'"):
        Event.from_dict(data)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | hostile_text,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(hostile_text, children, max_size=3)
    ),
    max_leaves=6,
)


@HOSTILE_SETTINGS
@given(changes=st.dictionaries(st.sampled_from(FIELDS), json_values, min_size=1, max_size=4))
def test_any_field_values_give_an_event_or_a_value_error(changes: dict[str, Any]) -> None:
    """Property: arbitrary JSON in any field gives an Event or a ValueError naming a field."""
    data = good() | changes
    error: ValueError | None = None
    try:
        evt = Event.from_dict(data)
    except ValueError as exc:
        error = exc
    if error is not None:
        named = re.findall(r"field '(\w+)'", str(error))
        assert named, str(error)
        assert set(named) <= set(FIELDS)
    else:
        assert evt.to_dict()["id"] == data["id"]
        evt.to_json_bytes()


@HOSTILE_SETTINGS
@given(source=hostile_text, context_id=hostile_text, event_type=hostile_text.filter(bool))
def test_well_formed_dicts_round_trip(source: str, context_id: str, event_type: str) -> None:
    """Property: to_dict -> from_dict -> to_dict is stable for hostile text fields."""
    d = new_event(event_type, source, {"s": source}, context_id=context_id).to_dict()
    assert Event.from_dict(d).to_dict() == d
