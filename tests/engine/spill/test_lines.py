"""
The spill line format: canonical JSON, subscription marks, CRC-32 and HMAC integrity.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import tempfile
import zlib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from audit_logging._model import encoding as _encoding
from audit_logging.events import new_event
from audit_logging.spillover import (
    RecoveryResult,
    SpillStore,
)
from tests.engine.spill._support import (
    KEY,
    Collector,
    crc_line,
    ev,
    quarantine_records,
    spill_name,
)

pytestmark = pytest.mark.timeout(60)


def test_round_trip_keeps_events_and_subscription_marks(store: SpillStore) -> None:
    """Recovered events equal the written ones, each with its subscription (or None)."""
    events = [ev(i) for i in range(4)]
    subs = [None, "db", "kafka", None]
    for e, sub in zip(events, subs, strict=True):
        store.write(e, sub)
    got = Collector()
    result = store.recover(got)
    assert result == RecoveryResult(replayed=4, kept=0, corrupt=0, files=1)
    assert [(e.to_dict(), s) for e, s in got.got] == [
        (e.to_dict(), s) for e, s in zip(events, subs, strict=True)
    ]


def test_line_is_canonical_json_plus_subscription_and_crc(store: SpillStore) -> None:
    """A line is the canonical object, then "subscription", then a CRC-32 of the body."""
    e = ev(1)
    store.write(e, "db")
    assert store.current_file is not None
    line = store.current_file.read_bytes()
    assert line.endswith(b"\n")
    assert line.count(b"\n") == 1
    obj = json.loads(line)
    assert list(obj) == [*e.to_dict(), "subscription", "crc32"]
    body = line[: -len(b',"crc32":"00000000"}\n')] + b"}"
    assert obj["crc32"] == f"{zlib.crc32(body):08x}"
    assert json.loads(body) == {**e.to_dict(), "subscription": "db"}


def test_hmac_line_carries_sha256_mac_of_body(spill_dir: Path) -> None:
    """With a key the integrity field is the hex HMAC-SHA256 of the body."""
    with_key = SpillStore(spill_dir, key=KEY)
    with_key.write(ev(1))
    assert with_key.current_file is not None
    line = with_key.current_file.read_bytes().rstrip(b"\n")
    with_key.close()
    mac = json.loads(line)["hmac"]
    body = line[: -len(b',"hmac":"') - 64 - 2] + b"}"
    assert mac == hmac.new(KEY, body, hashlib.sha256).hexdigest()


def test_big_integers_survive_exactly(store: SpillStore) -> None:
    """Integers beyond 64 bits come back exact, not as floats."""
    store.write(ev(1, big=2**70 + 1, neg=-(2**65), items=[1, 2**64]))
    got = Collector()
    store.recover(got)
    assert got.got[0][0].payload == {
        "n": 1,
        "big": 2**70 + 1,
        "neg": -(2**65),
        "items": [1, 2**64],
    }


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=st.text(), key=st.text(max_size=20))
def test_hostile_strings_stay_one_line_and_round_trip(text: str, key: str) -> None:
    """Any string (CR/LF, U+2028, NUL, escapes) is one line and replays to the same event."""
    with tempfile.TemporaryDirectory() as tmp:
        s = SpillStore(Path(tmp) / "s", fsync="never")
        e = new_event("t", text, {key: text, "nested": [text]})
        s.write(e, text or None)
        assert s.current_file is not None
        assert s.current_file.read_bytes().count(b"\n") == 1
        got = Collector()
        assert s.recover(got).replayed == 1
        s.close()
    assert got.got[0][0].to_json() == e.to_json()
    assert got.got[0][1] == (text or None)


def test_crc_catches_a_bit_flip(store: SpillStore) -> None:
    """One flipped bit makes exactly that line fail its CRC; the others replay."""
    for i in range(3):
        store.write(ev(i))
    path = store.current_file
    assert path is not None
    data = bytearray(path.read_bytes())
    second = data.index(b"\n") + 1
    pos = data.index(b'"source":"test"', second) + len('"source":"t')
    data[pos] ^= 0x04
    path.write_bytes(bytes(data))
    bad: list[tuple[str, int, str]] = []
    got = Collector()
    result = store.recover(got, on_bad_line=lambda f, n, r: bad.append((f, n, r)))
    assert (result.replayed, result.corrupt) == (2, 1)
    assert [(Path(f).name, n) for f, n, _ in bad] == [(path.name, 2)]
    assert "crc32 mismatch" in bad[0][2]


def test_hmac_quarantines_unsigned_and_forged_lines(spill_dir: Path) -> None:
    """With a key, a crc32-only line and a line signed with another key are never delivered."""
    genuine = SpillStore(spill_dir, key=KEY)
    genuine.write(ev(0))
    genuine.close()
    forger = SpillStore(spill_dir)
    forger.write(ev(1))
    forger.close()
    other = SpillStore(spill_dir, key=b"x" * 32)
    other.write(ev(2))
    other.close()
    reasons: list[str] = []
    got = Collector()
    recoverer = SpillStore(spill_dir, key=KEY)
    result = recoverer.recover(got, on_bad_line=lambda f, n, r: reasons.append(r))
    recoverer.close()
    assert [e.payload["n"] for e, _ in got.got] == [0]
    assert result.corrupt == 2
    assert any("unsigned" in r for r in reasons)
    assert any("hmac mismatch" in r for r in reasons)


def test_signed_lines_without_key_are_quarantined(spill_dir: Path) -> None:
    """A store without the key cannot check signed lines and quarantines them with a reason."""
    signer = SpillStore(spill_dir, key=KEY)
    signer.write(ev(0))
    signer.close()
    reasons: list[str] = []
    plain = SpillStore(spill_dir)
    result = plain.recover(Collector(), on_bad_line=lambda f, n, r: reasons.append(r))
    plain.close()
    assert result.corrupt == 1
    assert "no spill key" in reasons[0]
    assert quarantine_records(spill_dir)[0]["reason"] == reasons[0]


def test_nan_line_with_valid_crc_is_rejected(store: SpillStore, spill_dir: Path) -> None:
    """Strict parsing: a bare NaN is quarantined even when its CRC is right."""
    record = {**ev(1).to_dict(), "subscription": None}
    body = _encoding.dumps(record).replace(b'{"n":1}', b'{"n":NaN}')
    (spill_dir / spill_name()).write_bytes(body[:-1] + b',"crc32":"%08x"}\n' % zlib.crc32(body))
    reasons: list[str] = []
    result = store.recover(Collector(), on_bad_line=lambda f, n, r: reasons.append(r))
    assert result.corrupt == 1
    assert "invalid JSON" in reasons[0]


def test_invalid_event_fields_are_quarantined(store: SpillStore, spill_dir: Path) -> None:
    """A well-formed line whose event fails Event.from_dict is quarantined, not delivered."""
    record = {**ev(1).to_dict(), "subscription": None}
    record["id"] = "short"
    (spill_dir / spill_name()).write_bytes(crc_line(record))
    reasons: list[str] = []
    result = store.recover(Collector(), on_bad_line=lambda f, n, r: reasons.append(r))
    assert result.corrupt == 1
    assert "invalid event" in reasons[0]
    assert "'id'" in reasons[0]


def test_trace_flags_and_scope_round_trip_and_earlier_lines_still_read() -> None:
    """An unsampled span, actor and origin come back from a spill line; a line of the
    earlier format (integer trace_flags beside the canonical keys) still reads."""
    from opentelemetry.trace import SpanContext, TraceFlags

    from audit_logging._engine.spill.lines import encode_line, read_line
    from audit_logging.context import Actor, Origin

    sc = SpanContext(0xABC, 0xDEF, is_remote=True, trace_flags=TraceFlags(TraceFlags.DEFAULT))
    evt = new_event("x", "s", {"a": 1}, span_context=sc)
    evt = type(evt)(
        evt.type, evt.source, evt.payload, "", evt.id, evt.time, sc,
        Actor("u1", "alice"), Origin(client_ip="10.0.0.1"),
    )  # fmt: skip
    back, sub, _ = read_line(encode_line(evt, "db", None), None)  # type: ignore[misc]
    assert back == evt
    assert sub == "db"
    assert not back.span_context.trace_flags.sampled
    record = evt._canonical()
    del record["trace_flags"], record["actor"], record["origin"]
    record["subscription"] = None
    record["trace_flags"] = 0  # how earlier versions marked an unsampled span
    body = _encoding.dumps(record)
    old = body[:-1] + b',"crc32":"%08x"}\n' % zlib.crc32(body)
    parsed = read_line(old, None)
    assert parsed is not None
    assert not parsed[0].span_context.trace_flags.sampled


@pytest.mark.parametrize("flags", [0x01, 0x00])
def test_spans_sampled_or_not_round_trip_with_actor_and_origin(
    store: SpillStore, flags: int
) -> None:
    """A valid span (the canonical form writes hex trace_flags) replays with its flags."""
    from opentelemetry.trace import SpanContext, TraceFlags

    from audit_logging.context import Actor, Origin
    from audit_logging.events import Event

    span = SpanContext(0xABC, 0xDEF, is_remote=True, trace_flags=TraceFlags(flags))
    e = Event(
        "info", "svc", {"n": 1}, span_context=span, actor=Actor("u1"), origin=Origin("10.0.0.1")
    )
    store.write(e, None)
    got = Collector()
    assert store.recover(got).replayed == 1
    ((back, _),) = got.got
    assert back.span_context.trace_flags == flags
    assert back.to_dict() == e.to_dict()
