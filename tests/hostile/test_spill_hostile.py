"""
S10 hostile payloads in spill files, and S7-style malformed spill lines.

Pass criteria (RELIABILITY S10, S7 and the forged-events threat): hostile events
that are spilled give exactly one line each (line count equals the spilled count),
every line of every spill and quarantine file parses with a strict parser, and a
fresh bus replays all of them with their canonical content intact. Malformed lines
(garbage bytes, bare NaN, nesting past the parser's limit, wrong field types, lone
surrogate escapes, NUL, CRLF, BOM, empty lines, a line that is valid JSON but has no
or a wrong integrity field) never make ``recover_spillover`` raise or hang: it
returns the count of valid lines, reports each bad line with ``file:line`` and
moves it to ``quarantine/``; the bus keeps delivering afterwards.
"""

from __future__ import annotations

import json
import os
import zlib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from audit_logging._model.ids import uuid7_str
from audit_logging.bus import Bus, Delivery
from audit_logging.events import EVENT_ANY, Event, new_event
from audit_logging.sanitize import sanitize_payload
from audit_logging.spillover import SpillError
from tests._helpers import Errors, Recorder
from tests.hostile._hostile import (
    HOSTILE_SETTINGS,
    INJECTION_TEXTS,
    custom_event_types,
    file_records,
    fixed_hostile_values,
    hostile_payloads,
    hostile_text,
    jsonl_records,
    nested_dict,
    spill_records,
)

pytestmark = pytest.mark.timeout(60)

CANONICAL_KEYS = ("id", "type", "time", "source", "context_id", "trace_id", "span_id", "payload")


def failing(evt: Event[Any]) -> None:
    """A handler that always fails, so the bus spills every copy for it."""
    raise RuntimeError("sink down")


def spill_all(directory: Path, events: list[Event[Any]], **config: Any) -> Errors:
    """Publish ``events`` on a bus whose only handler fails: every copy is spilled."""
    errors = Errors()
    with Bus(
        lifecycle_events=False,
        asynchronous=False,
        circuit_max_fails=0,
        spillover_dir=directory,
        error_func=errors,
        **config,
    ) as bus:
        bus.subscribe(EVENT_ANY, failing, name="sink")
        outcomes = [bus.publish(evt) for evt in events]
    assert outcomes == [Delivery.SPILLED] * len(events)
    return errors


def replay_all(directory: Path, **config: Any) -> tuple[int, Recorder, Errors]:
    """Recover ``directory`` into a fresh bus with a recorder named like the failed sink."""
    errors = Errors()
    recorder = Recorder("sink")
    with Bus(lifecycle_events=False, spillover_dir=directory, error_func=errors, **config) as bus:
        bus.subscribe(EVENT_ANY, recorder, name="sink")
        replayed = bus.recover_spillover()
        after = new_event("after_replay", "test", {"n": 1})
        assert bus.publish(after) is Delivery.QUEUED
        assert bus.flush(10)
        assert recorder.events[-1].id == after.id  # the bus still delivers
    recorder.events.pop()
    return replayed, recorder, errors


def canonical(record: dict[str, Any]) -> dict[str, Any]:
    return {key: record[key] for key in CANONICAL_KEYS}


def hostile_events() -> list[Event[Any]]:
    values = fixed_hostile_values()
    del values["huge_int"]  # see test_integer_beyond_double_range_replays
    events = [new_event("hostile", "test", {name: v}) for name, v in values.items()]
    events += [new_event(text, text, {text: text}, context_id=text) for text in INJECTION_TEXTS]
    events += [
        new_event("big", "test", {"five_mb": "\n\u2028\x00" * 1_700_000}),
        new_event("deep", "test", nested_dict(10_000)),
        new_event("wide", "test", {f"k{i}": i for i in range(100_000)}),
    ]
    return events


@pytest.mark.parametrize("spill_key", [None, b"k" * 32], ids=["crc32", "hmac"])
def test_hostile_events_spill_as_strict_lines_and_replay_intact(
    tmp_path: Path, spill_key: bytes | None
) -> None:
    """Each spilled hostile event is one strict line; a fresh bus replays every one unchanged."""
    spill = tmp_path / "spill"
    events = hostile_events()
    spill_all(spill, events, spill_key=spill_key)
    records = spill_records(spill)  # wc -l == spilled count, every line strict
    assert [r["id"] for r in records] == [e.id for e in events]
    expected = [sanitize_payload(e).to_dict() for e in events]
    assert [canonical(r) for r in records] == expected
    replayed, recorder, errors = replay_all(spill, spill_key=spill_key)
    assert replayed == len(events)
    assert [e.to_dict() for e in recorder.events] == expected
    assert errors.calls == []
    assert not list(spill.glob("*.jsonl*")), "replayed files must be removed"


def test_integer_beyond_double_range_replays(tmp_path: Path) -> None:
    """A 400-digit integer (exact in the spill line) replays instead of being quarantined."""
    spill = tmp_path / "spill"
    evt = new_event("big_int", "test", {"n": 10**400, "m": -(10**309)})
    spill_all(spill, [evt])
    assert spill_records(spill)[0]["payload"] == {"n": 10**400, "m": -(10**309)}
    replayed, recorder, errors = replay_all(spill)
    assert errors.calls == []
    assert replayed == 1
    assert recorder.events[0].payload == {"n": 10**400, "m": -(10**309)}


@HOSTILE_SETTINGS
@given(
    batch=st.lists(
        st.tuples(custom_event_types, hostile_text, hostile_payloads), min_size=1, max_size=6
    )
)
def test_any_hostile_batch_spills_and_replays(
    batch: list[tuple[Any, ...]], tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Property: spill lines of any hostile batch are strict and replay to the same events."""
    spill = tmp_path_factory.mktemp("spill")
    events = [Event(t, s, p, context_id=s) for t, s, p in batch]
    spill_all(spill, events)
    records = spill_records(spill)
    assert [canonical(r) for r in records] == [sanitize_payload(e).to_dict() for e in events]
    replayed, recorder, _ = replay_all(spill)
    assert replayed == len(events)
    assert [e.to_dict() for e in recorder.events] == [canonical(r) for r in records]


# -- malformed lines ---------------------------------------------------------------------


def crc_line(obj_text: bytes) -> bytes:
    """A line with a *valid* CRC-32 for whatever JSON-ish text it carries (a forger's line)."""
    return obj_text[:-1] + b',"crc32":"%08x"}\n' % zlib.crc32(obj_text)


def valid_body(**changes: Any) -> bytes:
    """The JSON text of a well-formed spill record, with some fields changed."""
    record = new_event("forged", "test", {"n": 1}).to_dict()
    record["subscription"] = None
    record.update(changes)
    return json.dumps(record, separators=(",", ":")).encode()


def malformed_lines() -> dict[str, bytes]:
    """Bad lines a crash, a disk fault or a forger can leave in a spill file."""
    deep = b'{"id":' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    return {
        "garbage": os.urandom(1024).replace(b"\n", b"\x00") + b"\n",
        "nul_bytes": b"\x00" * 64 + b"\n",
        "no_integrity_field": valid_body() + b"\n",
        "wrong_crc": valid_body()[:-1] + b',"crc32":"00000000"}\n',
        "bare_nan": crc_line(valid_body().replace(b'"payload":{"n":1}', b'"payload":NaN')),
        "bare_infinity": crc_line(
            valid_body().replace(b'"payload":{"n":1}', b'"payload":-Infinity')
        ),
        "deep_nesting": crc_line(deep),
        "lone_surrogate_escape": crc_line(valid_body(source="x").replace(b'"x"', b'"\\udc80"')),
        "invalid_utf8": crc_line(valid_body(source="x").replace(b'"x"', b'"\xff\xfe"')),
        "id_is_a_number": crc_line(valid_body(id=5)),
        "empty_type": crc_line(valid_body(type="")),
        "type_is_a_list": crc_line(valid_body(type=["x"])),
        "time_garbage": crc_line(valid_body(time="yesterday\n")),
        "time_no_offset": crc_line(valid_body(time="2024-01-01T00:00:00")),
        "trace_id_not_hex": crc_line(valid_body(trace_id="z" * 32, span_id="1" * 16)),
        "subscription_is_a_dict": crc_line(valid_body(subscription={"a": 1})),
        "huge_id": crc_line(valid_body(id="9" * 100_000)),
        "json_array": b"[1,2,3]\n",
        "json_string": b'"just a string"\n',
        "truncated": valid_body()[:40] + b"\n",
        "hmac_without_key": valid_body()[:-1] + b',"hmac":"' + b"0" * 64 + b'"}\n',
    }


def write_spill_file(directory: Path, lines: list[bytes]) -> Path:
    """A spill file named as the bus names them, holding ``lines`` as they are."""
    directory.mkdir(mode=0o700, exist_ok=True)
    path = directory / f"spill-{os.getpid()}-{uuid7_str()}.jsonl"
    path.write_bytes(b"".join(lines))
    path.chmod(0o600)
    return path


def test_malformed_spill_lines_are_quarantined_and_valid_ones_replayed(tmp_path: Path) -> None:
    """Each malformed line is reported with file:line and quarantined; valid ones replay."""
    spill = tmp_path / "spill"
    good = [new_event("good", "test", {"i": i}) for i in range(3)]
    spill_all(spill, good)
    good_lines = [
        line + b"\n"
        for line in b"".join(p.read_bytes() for p in spill.glob("*.jsonl")).split(b"\n")[:-1]
    ]
    bad = malformed_lines()
    lines = [
        good_lines[0],
        *bad.values(),
        good_lines[1],
        b"\r\n",
        b"\n",
        b"\xef\xbb\xbf" + good_lines[2],
    ]
    for path in spill.glob("*.jsonl"):
        path.unlink()
    source = write_spill_file(spill, lines)
    replayed, recorder, errors = replay_all(spill)
    assert replayed == len(good)
    assert [e.id for e in recorder.events] == [e.id for e in good]
    reports = [str(exc) for exc in errors.of(SpillError)]
    assert len(reports) == len(bad)
    for lineno in range(2, 2 + len(bad)):
        assert any(f"{source}:{lineno}:" in text for text in reports), lineno
    quarantined = [r for p in (spill / "quarantine").glob("*.jsonl") for r in file_records(p)]
    assert len(quarantined) == len(bad)
    assert sorted(r["line"] for r in quarantined) == list(range(2, 2 + len(bad)))


@HOSTILE_SETTINGS
@given(garbage=st.lists(st.binary(min_size=1, max_size=300), min_size=1, max_size=6))
def test_arbitrary_bytes_in_a_spill_file_never_break_recovery(
    garbage: list[bytes], tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Property: random bytes between valid lines never raise; the valid lines replay."""
    spill = tmp_path_factory.mktemp("spill")
    good = [new_event("good", "test", {"i": i}) for i in range(2)]
    spill_all(spill, good)
    (original,) = spill.glob("*.jsonl")
    first, second = original.read_bytes().split(b"\n")[:2]
    original.unlink()
    write_spill_file(spill, [first + b"\n", *garbage, b"\n", second + b"\n"])
    replayed, recorder, _ = replay_all(spill)
    assert replayed == len(recorder.events)
    assert {e.id for e in good} <= {e.id for e in recorder.events}
    for path in (spill / "quarantine").glob("*.jsonl"):
        jsonl_records(path.read_bytes())
