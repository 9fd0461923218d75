"""
S10 hostile payloads through the real path: Bus -> RotatingJSONFileHandler.

Pass criteria (RELIABILITY S10, log-injection and DoS threats): ``publish`` never
raises and returns a Delivery; no error is reported for a hostile but valid event;
the file has exactly one line per event (``wc -l`` equals the event count) and every
line parses with a strict parser (no bare NaN, no raw line breaks) and equals the
sanitized event's canonical dict; secrets inside hostile structures (cycles, deep
nesting, dict subclasses that hide their items) are still masked; the workers
survive: a normal event published afterwards is delivered; nothing hangs (every
flush is bounded and the module has a timeout).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from audit_logging.bus import Bus, Delivery
from audit_logging.events import EVENT_ANY, Event, new_event
from audit_logging.sanitize import sanitize_payload
from audit_logging.sinks.file import RotatingJSONFileHandler
from tests._helpers import Errors, Recorder
from tests.hostile._hostile import (
    HOSTILE_SETTINGS,
    INJECTION_TEXTS,
    RaisingItems,
    custom_event_types,
    file_records,
    fixed_hostile_values,
    hostile_payloads,
    hostile_text,
    nested_dict,
    nested_list,
)

pytestmark = pytest.mark.timeout(60)

SECRET = "s3cr3t-hostile"


class Wiring:
    """A bus with a file sink and a recorder, both subscribed to everything."""

    def __init__(self, directory: Path, *, asynchronous: bool = True) -> None:
        self.path = directory / "audit.jsonl"
        self.errors = Errors()
        self.recorder = Recorder("rec")
        self.sink = RotatingJSONFileHandler(str(self.path), compress=False, flush_interval=0)
        self.bus = Bus(
            lifecycle_events=False,
            asynchronous=asynchronous,
            error_func=self.errors,
            buffer_size=10_000,
            worker_count=2,
        )
        self.bus.subscribe(EVENT_ANY, self.sink, name="file")
        self.bus.subscribe(EVENT_ANY, self.recorder, name="rec")

    def publish_all(self, events: list[Event[Any]]) -> list[Delivery]:
        outcomes = [self.bus.publish(evt) for evt in events]
        assert self.bus.flush(30), "the bus did not drain within 30 s"
        return outcomes

    def assert_still_delivers(self) -> None:
        """A normal event published now reaches both subscribers: no worker died."""
        before = len(self.recorder.events)
        after = new_event("after_hostile", "test", {"n": 1})
        assert self.bus.publish(after) in (Delivery.QUEUED, Delivery.DELIVERED)
        assert self.bus.flush(10)
        assert self.recorder.wait_for(before + 1, timeout=10)
        assert self.recorder.events[-1].id == after.id
        assert file_records(self.path)[-1]["id"] == after.id

    def close(self) -> None:
        self.bus.close(timeout=10)


def hostile_events() -> list[Event[Any]]:
    """The fixed S10 cases, large ones included, as payloads and as envelope fields."""
    events = [
        new_event("hostile", "test", {name: value})
        for name, value in fixed_hostile_values().items()
    ]
    events += [new_event(text, text, {"k": text}, context_id=text) for text in INJECTION_TEXTS]
    events += [
        new_event("big", "test", {"ten_mb": "\r\n\u2028" * 3_400_000}),
        new_event("deep", "test", nested_dict(10_000)),
        new_event("deep", "test", {"l": nested_list(10_000)}),
        new_event("wide", "test", {f"key{i}": i for i in range(100_000)}),
        new_event("t" * 100_000, "s" * 100_000, {"huge": "type and source"}),
    ]
    return events


def test_fixed_hostile_payloads_are_one_strict_line_each(tmp_path: Path) -> None:
    """Every fixed hostile event becomes exactly one strict line; then normal delivery goes on."""
    wiring = Wiring(tmp_path)
    try:
        events = hostile_events()
        outcomes = wiring.publish_all(events)
        assert outcomes == [Delivery.QUEUED] * len(events)
        assert wiring.errors.calls == []
        records = file_records(wiring.path)  # wc -l == len(events), every line strict
        assert [r["id"] for r in records] == [e.id for e in events]
        assert len(wiring.recorder.events) == len(events)
        wiring.assert_still_delivers()
    finally:
        wiring.close()


@pytest.mark.parametrize("asynchronous", [True, False])
def test_secrets_inside_hostile_structures_are_masked(tmp_path: Path, asynchronous: bool) -> None:
    """A secret in a cycle, 200 levels deep, in a dict subclass or under a tuple key is masked."""
    cyclic: dict[str, Any] = {"password": SECRET}
    cyclic["me"] = cyclic
    payloads = [
        cyclic,
        nested_dict(200, {"api_key": SECRET}),
        {"wrapped": RaisingItems(token=SECRET)},
        {(1, "x"): {"Password": SECRET}},
        {"dsn": f"postgresql://u:{SECRET}@db/x", "again": [f"password={SECRET}\n"]},
    ]
    wiring = Wiring(tmp_path, asynchronous=asynchronous)
    try:
        wiring.publish_all([new_event("secretive", "test", p) for p in payloads])
        data = wiring.path.read_bytes()
        assert data.count(b"\n") == len(payloads)
        assert SECRET.encode() not in data
        file_records(wiring.path)
        wiring.assert_still_delivers()
    finally:
        wiring.close()


@HOSTILE_SETTINGS
@given(
    batch=st.lists(
        st.tuples(custom_event_types, hostile_text, hostile_text, hostile_payloads),
        min_size=1,
        max_size=8,
    )
)
def test_any_hostile_batch_gives_one_strict_line_per_event(
    batch: list[tuple[Any, ...]], tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Property: any hostile batch gives wc -l == count, each line the sanitized canonical dict."""
    wiring = Wiring(tmp_path_factory.mktemp("batch"))
    try:
        events = [Event(t, s, p, context_id=c) for t, s, c, p in batch]
        outcomes = wiring.publish_all(events)
        assert outcomes == [Delivery.QUEUED] * len(events)
        assert wiring.errors.calls == []
        records = file_records(wiring.path)
        assert records == [sanitize_payload(e).to_dict() for e in events]
        wiring.assert_still_delivers()
    finally:
        wiring.close()
