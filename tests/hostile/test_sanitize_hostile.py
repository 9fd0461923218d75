"""
S10/S20 hostile payloads in the sanitizer, which runs on every publish.

Pass criteria (RELIABILITY S10: "Sanitizer handles nesting and cycles without
RecursionError"; S20): ``sanitize_payload`` never raises, whatever the payload
holds (10,000-deep nesting, cycles, containers or strings whose methods raise,
non-string keys); its result is a fixed point (sanitizing again changes nothing);
the input is never modified; a value it cannot read is replaced by a marker
rather than passed on unchecked; and a secret stays masked in every case.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from hypothesis import given

from audit_logging.events import Event, new_event
from audit_logging.sanitize import sanitize_payload
from tests.hostile._hostile import (
    HOSTILE_SETTINGS,
    RaisingItems,
    fixed_hostile_values,
    hostile_payloads,
    nested_dict,
    nested_list,
)

pytestmark = pytest.mark.timeout(60)

SECRET = "s3cr3t-value"


class RaisingMapping(Mapping[str, Any]):
    """A Mapping (not a dict) that refuses to be read."""

    def __getitem__(self, key: str) -> Any:
        raise RuntimeError("getitem refuses")

    def __iter__(self) -> Iterator[str]:
        raise RuntimeError("iter refuses")

    def __len__(self) -> int:
        return 1

    def items(self) -> Any:
        raise RuntimeError("items refuses")


class RaisingText(str):
    """A str subclass whose methods raise (the sanitizer lower-cases and searches text)."""

    __slots__ = ()

    def lower(self) -> str:
        raise RuntimeError("lower refuses")

    def __contains__(self, item: object) -> bool:
        raise RuntimeError("contains refuses")


def canonical(evt: Event[Any]) -> bytes:
    return evt.to_json_bytes().split(b',"payload":', 1)[1]


@pytest.mark.parametrize(("name", "value"), list(fixed_hostile_values().items()))
def test_fixed_hostile_values_sanitize_to_a_fixed_point(name: str, value: Any) -> None:
    """Each fixed hostile value: no exception, a fixed point, the input unchanged."""
    evt = new_event("t", "s", {name: value, "password": SECRET})
    once = sanitize_payload(evt)
    twice = sanitize_payload(once)
    assert canonical(twice) == canonical(once)
    assert SECRET.encode() not in once.to_json_bytes()
    assert evt.payload["password"] == SECRET  # the input is not modified


@pytest.mark.parametrize("depth", [1_000, 10_000])
def test_deep_nesting_with_a_secret_at_the_bottom_is_masked(depth: int) -> None:
    """10,000 levels: no RecursionError, and the secret at the bottom is masked."""
    evt = new_event("t", "s", nested_dict(depth, {"password": SECRET, "l": nested_list(50)}))
    out = sanitize_payload(evt)
    node: Any = out.payload
    for _ in range(depth):
        node = node["a"]
    assert node["password"] == "****"


def test_cycles_with_secrets_are_cut_and_masked() -> None:
    """A self-referencing payload that needs masking is rebuilt with "<cycle>" markers."""
    payload: dict[str, Any] = {"token": SECRET, "items": []}
    payload["items"].append(payload)
    payload["me"] = payload
    out = sanitize_payload(new_event("t", "s", payload)).payload
    assert out["token"] == "****"
    assert out["me"] == "<cycle>"
    assert out["items"] == ["<cycle>"]
    assert payload["token"] == SECRET


def test_values_that_raise_when_read_are_replaced_not_passed_on() -> None:
    """Unreadable mappings and text are marked (fail closed); dict subclasses are masked."""
    payload = {
        "mapping": RaisingMapping(),
        "text": RaisingText("password=" + SECRET),
        "dict_subclass": RaisingItems(api_key=SECRET),
        "ok": "fine",
    }
    out = sanitize_payload(new_event("t", "s", payload)).payload
    assert out["mapping"] == "<unreadable RaisingMapping>"
    assert out["text"] == "<unreadable RaisingText>"
    assert out["dict_subclass"] == {"api_key": "****"}
    assert out["ok"] == "fine"


@HOSTILE_SETTINGS
@given(payload=hostile_payloads)
def test_any_payload_sanitizes_to_a_fixed_point_without_changing_the_input(payload: Any) -> None:
    """Property: never raises, idempotent, input untouched, secrets masked under any key."""
    wrapped = {"data": payload, "Password": SECRET, "nested": [{"api-key": SECRET}]}
    evt = new_event("t", "s", wrapped)
    once = sanitize_payload(evt)
    assert canonical(sanitize_payload(once)) == canonical(once)
    assert SECRET.encode() not in once.to_json_bytes()
    assert evt.payload["data"] is payload
    assert evt.payload["Password"] == evt.payload["nested"][0]["api-key"] == SECRET
