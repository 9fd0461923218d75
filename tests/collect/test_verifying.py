"""LiveVerifier on a sealed stream the Kafka sink wrote to the mock broker: records in any
partition order verify clean, a gap is reported once its time bound passes, an edit and a
forged checkpoint are named, and a reader joining mid-stream starts at a checkpoint
instead of reporting the records it never saw as deleted."""

from __future__ import annotations

import random
import re
from typing import Any

import pytest

from audit_logging._integrity import Keyring, Kind, generate_signing_key
from audit_logging.collector import LiveVerifier
from tests.collect._support import produce
from tests.sinks.kafka_fixtures import MockBroker, consume_all, unique_topic

N = 50


class Clock:
    """A clock the test moves."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def stream(mock_broker: MockBroker) -> dict[str, Any]:
    """A sealed topic of N records (checkpoints every 10) and its checkpoint notes."""
    topic = unique_topic("live")
    key = generate_signing_key("live-key")
    produce(
        mock_broker.bootstrap,
        topic,
        N,
        integrity_key=key,
        integrity={"checkpoint_every": 10, "checkpoint_interval": 0},
    )
    records = [
        (m.headers(), m.value(), f"{topic}[{m.partition()}]@{m.offset()}")
        for m in consume_all(mock_broker.bootstrap, topic)
    ]
    notes = [
        (m.value().decode(), f"cp@{m.offset()}")
        for m in consume_all(mock_broker.bootstrap, f"{topic}.checkpoints")
    ]
    assert len(records) == N
    assert len(notes) == N // 10 + 1
    return {"records": records, "notes": notes, "keyring": Keyring([key])}


def _seq(record: tuple[Any, bytes, str]) -> int:
    return int(dict(record[0])["audit-seq"])


def _feed(v: LiveVerifier, records: list[Any], notes: list[Any]) -> None:
    for note, where in notes:
        v.add_checkpoint(note, where)
    for headers, value, where in records:
        v.add_record(headers, value, where)


def test_records_in_partition_order_verify_clean(stream: dict[str, Any]) -> None:
    v = LiveVerifier(stream["keyring"])
    records = list(stream["records"])
    random.Random(7).shuffle(records)  # any interleaving of the partitions
    _feed(v, records, stream["notes"])
    assert v.findings == []
    assert (v.verified, v.unverified, v.waiting()) == (N, 0, 0)


def test_checkpoints_arriving_after_their_records_still_verify(stream: dict[str, Any]) -> None:
    v = LiveVerifier(stream["keyring"])
    _feed(v, sorted(stream["records"], key=_seq), [])
    _feed(v, [], stream["notes"])
    assert v.findings == []
    assert v.checkpoints == len(stream["notes"])


def test_a_deleted_record_is_a_gap_once_the_time_bound_passes(stream: dict[str, Any]) -> None:
    clock = Clock()
    v = LiveVerifier(stream["keyring"], reorder_timeout=5, clock=clock)
    records = [r for r in stream["records"] if _seq(r) != 23]
    _feed(v, records, stream["notes"])
    v.tick()
    assert v.findings == []  # still waiting: seq 23 may be late in another partition
    clock.now = 6
    v.tick()
    assert [f.kind for f in v.defects_found()] == [Kind.SEQ_GAP]
    assert v.defects_found()[0].seq == 23


def test_a_full_window_reports_the_gap_without_waiting(stream: dict[str, Any]) -> None:
    v = LiveVerifier(stream["keyring"], reorder_window=5)
    records = sorted((r for r in stream["records"] if _seq(r) != 12), key=_seq)
    _feed(v, records, stream["notes"])
    assert Kind.SEQ_GAP in {f.kind for f in v.findings}


def test_an_edited_value_is_named(stream: dict[str, Any]) -> None:
    v = LiveVerifier(stream["keyring"])
    records = sorted(stream["records"], key=_seq)
    headers, value, where = records[17]
    records[17] = (headers, value.replace(b'"i":17', b'"i":71'), where)
    _feed(v, records, stream["notes"])
    assert {f.kind for f in v.findings} == {Kind.EDITED}
    assert any(f.where == where for f in v.findings)


def test_a_forged_checkpoint_is_named(stream: dict[str, Any]) -> None:
    v = LiveVerifier(stream["keyring"])
    notes = list(stream["notes"])
    note, where = notes[1]
    notes[1] = (re.sub(r"\ntime \d{4}", "\ntime 1999", note), where)  # signed text changed
    _feed(v, stream["records"], notes)
    assert Kind.FORGED_CHECKPOINT in {f.kind for f in v.findings}


def test_joining_mid_stream_starts_at_a_checkpoint_not_a_deletion(
    stream: dict[str, Any],
) -> None:
    clock = Clock()
    v = LiveVerifier(stream["keyring"], reorder_timeout=5, clock=clock)
    later = [r for r in stream["records"] if _seq(r) >= 14]  # 0..13 read by someone else
    random.Random(3).shuffle(later)
    _feed(v, later, stream["notes"])
    assert v.verified == 0
    assert v.waiting() == N - 14
    clock.now = 6
    v.tick()
    assert v.findings == []
    assert (v.verified, v.unverified) == (N - 20, 6)  # verified from the checkpoint at 20


def test_joining_mid_stream_still_catches_a_later_edit(stream: dict[str, Any]) -> None:
    v = LiveVerifier(stream["keyring"], reorder_window=10)
    later = sorted((r for r in stream["records"] if _seq(r) >= 14), key=_seq)
    i = next(i for i, r in enumerate(later) if _seq(r) == 33)
    headers, value, where = later[i]
    later[i] = (headers, value.replace(b'"i":33', b'"i":34'), where)
    _feed(v, later, stream["notes"])
    assert {f.kind for f in v.findings} == {Kind.EDITED}


def test_suspended_verifies_nothing_and_counts_it(stream: dict[str, Any]) -> None:
    v = LiveVerifier(stream["keyring"])
    v.reset(suspended=True)
    _feed(v, stream["records"][:10], stream["notes"])
    assert v.findings == []
    assert (v.verified, v.unverified) == (0, 10)


def test_a_record_without_integrity_headers_is_an_insertion(stream: dict[str, Any]) -> None:
    v = LiveVerifier(stream["keyring"])
    v.add_record([("event_type", b"x")], b"{}", "t[0]@9")
    assert [(f.kind, f.where) for f in v.findings] == [(Kind.INSERTED, "t[0]@9")]
