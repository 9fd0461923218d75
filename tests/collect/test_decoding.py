"""Decoding consumed records: the canonical JSON comes back as the same event, and every
other shape is refused with a one-word reason and a sentence naming what was wrong."""

from __future__ import annotations

import pytest

from audit_logging._collect.consumer import Record
from audit_logging._collect.decoding import Undecodable, decode, describe_record
from audit_logging._model.event import new_event
from audit_logging._model.formats import encoder


def _record(value: bytes | None) -> Record:
    return Record("audit", 2, 7, b"key", value, (("event_type", b"t"),))


def test_the_canonical_format_comes_back_as_the_same_event() -> None:
    evt = new_event("user_login", "tests", {"user_id": "u1", "n": [1, 2]}, context_id="c1")
    back = decode(_record(evt.to_json_bytes()))
    assert back.to_json_bytes() == evt.to_json_bytes()


@pytest.mark.parametrize(
    ("value", "reason", "words"),
    [
        (None, "empty", "no value"),
        (b"", "empty", "no value"),
        (b"\xff{", "not_json", "not UTF-8 JSON"),
        (b"[1]", "not_canonical", "JSON list"),
        (b'{"id": "nope", "type": "t", "time": "2026-01-01T00:00:00Z"}', "invalid_event", "id"),
    ],
)
def test_other_shapes_are_refused_with_a_reason(
    value: bytes | None, reason: str, words: str
) -> None:
    with pytest.raises(Undecodable) as info:
        decode(_record(value))
    assert info.value.reason == reason
    assert words in info.value.detail


@pytest.mark.parametrize("fmt", ["ecs", "ocsf"])
def test_siem_renderings_are_named_not_guessed(fmt: str) -> None:
    value = encoder(fmt)(new_event("user_login", "tests", {"user_id": "u1"}))
    with pytest.raises(Undecodable) as info:
        decode(_record(value))
    assert info.value.reason == "not_canonical"
    assert fmt.upper() in info.value.detail
    assert 'format="canonical"' in info.value.detail


def test_a_record_is_described_with_its_location_and_bytes() -> None:
    described = describe_record(Record("audit", 1, 5, None, b"\xff\x00", (("h", b"v"),)))
    assert described == {
        "topic": "audit",
        "partition": 1,
        "offset": 5,
        "key": None,
        "headers": {"h": "v"},
        "value": "base64:/wA=",
    }
    assert _record(b"x").where == "audit[2]@7"
