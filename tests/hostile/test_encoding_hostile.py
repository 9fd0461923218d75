"""
S10 hostile payloads, encoder level: the canonical JSON line of any event.

Pass criteria (RELIABILITY S10 and the log-injection threat): encoding never
raises; the result is exactly one line (no raw CR/LF, U+2028/U+2029/U+0085) that a
strict parser (``json.loads`` with a ``parse_constant`` that raises) accepts, so no
bare NaN/Infinity; nesting beyond the depth cap becomes a marker instead of
failing near 1,000 levels; cycles become ``"<cycle>"``; ``to_dict`` agrees with the
line and ``from_dict`` takes it back.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from hypothesis import given

from audit_logging._model import encoding as _encoding
from audit_logging.events import Event, new_event
from tests.hostile._hostile import (
    HOSTILE_SETTINGS,
    RaisingStr,
    fixed_hostile_values,
    hostile_payloads,
    hostile_text,
    nested_dict,
    nested_list,
    strict_loads,
)

pytestmark = pytest.mark.timeout(60)


def assert_one_strict_line(evt: Event[Any]) -> dict[str, Any]:
    """The event's line is one strict JSON object equal to its canonical dict."""
    data = evt.to_json_bytes()
    assert b"\n" not in data
    record = strict_loads(data)
    assert isinstance(record, dict)
    assert record == json.loads(json.dumps(evt.to_dict(), allow_nan=False))
    assert record["id"] == evt.id
    return record


@pytest.mark.parametrize(("name", "value"), list(fixed_hostile_values().items()))
def test_each_fixed_hostile_value_encodes_to_one_strict_line(name: str, value: Any) -> None:
    """Every fixed S10 case (alone and under a key) gives one strict JSON line."""
    for payload in (value, {"v": value, name: [value, (value,)]}):
        record = assert_one_strict_line(new_event("hostile", "test", payload))
        Event.from_dict(record)  # the line is a valid canonical event


@HOSTILE_SETTINGS
@given(payload=hostile_payloads, event_type=hostile_text.filter(bool), source=hostile_text)
def test_any_payload_and_envelope_encode_to_one_strict_line(
    payload: Any, event_type: str, source: str
) -> None:
    """Property: hostile payload, type, source and context id never break the line."""
    evt = Event(event_type, source, payload, context_id=source)
    record = assert_one_strict_line(evt)
    back = Event.from_dict(record)
    assert back.to_dict() == record  # decoding and re-encoding is stable


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_nan_and_infinity_become_null(value: float) -> None:
    """NaN and +/-Infinity are encoded as null, never as bare NaN/Infinity literals."""
    record = assert_one_strict_line(new_event("t", payload={"x": value, "l": [value]}))
    assert record["payload"] == {"x": None, "l": [None]}


def test_invalid_surrogate_and_raw_bytes_are_escaped_not_lost() -> None:
    """A lone surrogate becomes its backslash escape text; raw bytes become base64."""
    record = assert_one_strict_line(new_event("t", payload={"s": "a\udc80b", "b": b"\xff"}))
    assert record["payload"] == {"s": "a\\udc80b", "b": "base64:/w=="}


def test_line_separators_and_controls_are_escaped() -> None:
    """CR, LF, U+2028, U+2029, U+0085, ESC and NUL appear only as escapes."""
    text = "a\r\nb\u2028c\u2029d\u0085e\x1b[31mf\x00"
    data = new_event("t", text, {"k": text}, context_id=text).to_json_bytes()
    for raw in ("\r", "\n", "\u2028", "\u2029", "\u0085", "\x1b", "\x00"):
        assert raw.encode("utf-8") not in data
    assert strict_loads(data)["payload"]["k"] == text


@pytest.mark.parametrize("depth", [1_000, 10_000])
@pytest.mark.parametrize("builder", [nested_dict, nested_list])
def test_deep_nesting_is_cut_with_a_marker(depth: int, builder: Any) -> None:
    """1,000 and 10,000 levels encode without RecursionError; the cap leaves a marker."""
    record = assert_one_strict_line(new_event("t", payload=builder(depth)))
    node: Any = record["payload"]
    levels = 0
    while isinstance(node, dict | list) and node:
        node = node["a"] if isinstance(node, dict) else node[0]
        levels += 1
    assert node == "<max depth exceeded>"
    assert levels <= _encoding.MAX_DEPTH


def test_self_referencing_containers_are_marked_as_cycles() -> None:
    """A dict or list that holds itself is encoded with "<cycle>" where it repeats."""
    record = assert_one_strict_line(
        new_event("t", payload=fixed_hostile_values()["self_referencing"])
    )
    payload = record["payload"]
    assert payload["dict"]["self"] == "<cycle>"
    assert payload["list"] == [1, "<cycle>"]
    assert payload["pair"]["b"]["a"] == "<cycle>"


def test_objects_whose_str_and_repr_raise_get_a_placeholder() -> None:
    """An object whose __str__/__repr__ raise (as a value or as a key) is a placeholder."""
    record = assert_one_strict_line(new_event("t", payload={"v": RaisingStr(), RaisingStr(): 1}))
    assert record["payload"] == {"v": "<unprintable RaisingStr>", "<unprintable RaisingStr>": 1}


def test_ten_megabyte_string_of_newlines_stays_one_line() -> None:
    """10 MB of newlines and separators is one escaped line, encoded in well under a second."""
    text = "\n\u2028" * 5_000_000
    start = time.perf_counter()
    data = new_event("t", payload={"big": text}).to_json_bytes()
    assert time.perf_counter() - start < 5
    assert data.count(b"\n") == 0
    assert strict_loads(data)["payload"]["big"] == text


def test_hundred_thousand_keys_encode() -> None:
    """A payload with 100,000 keys (and non-string keys among them) is one strict line."""
    payload: dict[Any, Any] = {f"k{i}": i for i in range(100_000)}
    payload[(1, 2)] = "tuple"
    record = assert_one_strict_line(new_event("t", payload=payload))
    assert len(record["payload"]) == 100_001
    assert record["payload"]["(1, 2)"] == "tuple"


def test_out_of_range_time_is_clamped_not_raised() -> None:
    """A time past year 9999 in UTC (max with a negative offset) still encodes."""
    import datetime as dt

    late = dt.datetime.max.replace(tzinfo=dt.timezone(dt.timedelta(hours=-23)))
    record = assert_one_strict_line(Event("t", time=late))
    assert record["time"] == "9999-12-31T23:59:59.999999Z"
