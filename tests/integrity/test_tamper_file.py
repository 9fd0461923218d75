"""The tamper suite on a JSON-lines trail: each change is named by verify, a clean trail is OK."""

from __future__ import annotations

import base64
import gzip
import os

import pytest

from audit_logging._integrity import Kind, generate_signing_key, parse_note, sign_checkpoint
from audit_logging._integrity.checkpoint import Checkpoint
from tests.integrity._support import (
    checkpoint_notes,
    kinds,
    lines,
    put_lines,
    put_notes,
    verify,
    write_trail,
)


@pytest.fixture
def trail(tmp_path):
    path = tmp_path / "audit.jsonl"
    key, _ = write_trail(path)
    return path, key


def test_clean_trail_verifies(trail):
    """An untouched trail has no finding at all."""
    path, key = trail
    report = verify(path, key)
    assert report.ok(strict=True)
    assert report.findings == []
    assert report.records == 50
    assert report.streams == 1
    assert report.checkpoints == 6  # every 10 records, and the final one at close


def test_every_line_carries_stream_seq_and_prev(trail):
    """Lines are canonical JSON plus an integrity member with gap-free seq."""
    import json

    path, _ = trail
    records = [json.loads(x) for x in lines(path)]
    assert [r["integrity"]["seq"] for r in records] == list(range(50))
    assert len({r["integrity"]["stream"] for r in records}) == 1
    assert records[0]["integrity"]["prev"] == "0" * 64
    assert list(records[0])[:2] == ["id", "type"]


def test_edited_record_is_named(trail):
    """Changing a payload byte is reported as edited, at that line."""
    path, key = trail
    data = lines(path)
    data[14] = data[14].replace(b'"user":"u14"', b'"user":"admin"')
    put_lines(path, data)
    report = verify(path, key)
    assert not report.ok()
    edited = [f for f in report.findings if f.kind is Kind.EDITED]
    assert edited
    assert edited[0].where.endswith(":15")


def test_edited_last_record_is_caught_by_the_final_checkpoint(trail):
    """The last record has no successor; the signed root still catches its edit."""
    path, key = trail
    data = lines(path)
    data[-1] = data[-1].replace(b'"user":"u49"', b'"user":"u48"')
    put_lines(path, data)
    assert Kind.EDITED in kinds(verify(path, key))


def test_deleted_record_is_a_seq_gap(trail):
    """Removing a line in the middle is a gap naming the missing seq."""
    path, key = trail
    data = lines(path)
    del data[20]
    put_lines(path, data)
    report = verify(path, key)
    gaps = [f for f in report.findings if f.kind is Kind.SEQ_GAP]
    assert len(gaps) == 1
    assert "seq 20..20 missing" in gaps[0].detail


def test_deleted_first_records_are_named(trail):
    """Removing the first lines (not at a checkpoint) is a deleted start."""
    path, key = trail
    put_lines(path, lines(path)[3:])
    assert Kind.DELETED in kinds(verify(path, key))


def test_copied_record_is_inserted(trail):
    """A duplicated line is an inserted record (exact copy)."""
    path, key = trail
    data = lines(path)
    data.insert(30, data[10])
    put_lines(path, data)
    report = verify(path, key)
    inserted = [f for f in report.findings if f.kind is Kind.INSERTED]
    assert len(inserted) == 1
    assert "exact copy" in inserted[0].detail
    assert inserted[0].where.endswith(":31")


def test_unsealed_line_is_inserted(trail):
    """A line without integrity fields in a sealed trail is an inserted record."""
    path, key = trail
    data = lines(path)
    data.insert(5, b'{"id":"x","type":"forged","payload":{}}\n')
    put_lines(path, data)
    assert Kind.INSERTED in kinds(verify(path, key))
    assert verify(path, key, allow_unsealed=True).ok()


def test_record_after_final_checkpoint_is_inserted(trail):
    """A well-chained record appended after the close is an insertion."""
    path, key = trail
    data = lines(path)
    put_lines(path, [*data, data[-1].replace(b'"seq":49', b'"seq":50')])
    assert Kind.INSERTED in kinds(verify(path, key))


def test_swapped_records_are_reordered_only(trail):
    """Two swapped lines are reported as a reordering and nothing else."""
    path, key = trail
    data = lines(path)
    data[12], data[13] = data[13], data[12]
    put_lines(path, data)
    report = verify(path, key)
    assert kinds(report) == {Kind.REORDERED}
    assert not report.ok()


def test_truncated_end_is_named(trail):
    """Cutting the last records off is a truncation against the final checkpoint."""
    path, key = trail
    put_lines(path, lines(path)[:-4])
    report = verify(path, key)
    truncated = [f for f in report.findings if f.kind is Kind.TRUNCATED]
    assert len(truncated) == 1
    assert "seq 46..49" in truncated[0].detail


def test_altered_checkpoint_is_forged(trail):
    """A checkpoint whose root was changed no longer verifies."""
    path, key = trail
    cp_path = path.with_name("audit.jsonl.checkpoints")
    notes = checkpoint_notes(cp_path)
    body = notes[2].split("\n")
    body[2] = base64.b64encode(b"\x01" * 32).decode()
    notes[2] = "\n".join(body)
    put_notes(cp_path, notes)
    report = verify(path, key)
    assert Kind.FORGED_CHECKPOINT in kinds(report) or Kind.MALFORMED in kinds(report)
    assert not report.ok()


def test_checkpoint_signed_by_attacker_is_unknown_key(trail):
    """A re-signed checkpoint (after editing records) is signed by an unknown key."""
    path, key = trail
    cp_path = path.with_name("audit.jsonl.checkpoints")
    notes = checkpoint_notes(cp_path)
    cp = parse_note(notes[-1])
    forged = Checkpoint(cp.origin, cp.size, cp.root, cp.time, cp.frontier, cp.last_leaf, True)
    notes[-1] = sign_checkpoint(forged, generate_signing_key("test-key"))
    put_notes(cp_path, notes)
    assert Kind.UNKNOWN_KEY in kinds(verify(path, key))


def test_deleted_checkpoints_prove_nothing(trail):
    """Without any trusted checkpoint the trail is not proven (a defect)."""
    path, key = trail
    path.with_name("audit.jsonl.checkpoints").unlink()
    assert Kind.NO_CHECKPOINTS in kinds(verify(path, key))


def test_old_checkpoints_verify_after_key_rotation(tmp_path):
    """A trail written under two keys verifies with both verifier keys."""
    from audit_logging._integrity import Keyring
    from audit_logging._sinks.file.verify import verify_file

    path = tmp_path / "a.jsonl"
    old, _ = write_trail(path, 15, key=generate_signing_key("k2025"))
    new, _ = write_trail(path, 15, key=generate_signing_key("k2026"))
    assert verify_file(path, Keyring([old, new])).ok(strict=True)
    assert Kind.UNKNOWN_KEY in kinds(verify_file(path, Keyring([new])))


def test_crashed_writer_leaves_an_unverified_tail(tmp_path):
    """A writer that never closed: verifiable up to its last checkpoint, the tail is a note."""
    path = tmp_path / "a.jsonl"
    key, handler = write_trail(path, 25, close=False)
    report = verify(path, key)
    assert report.ok()
    tail = [f for f in report.findings if f.kind is Kind.UNVERIFIED_TAIL]
    assert len(tail) == 1
    assert tail[0].detail.startswith("5 record(s)")
    assert not report.ok(strict=True)
    handler.close()


def test_retention_of_whole_files_is_not_tampering(tmp_path):
    """Deleting the oldest rotated files leaves a verifiable trail starting at a checkpoint."""
    path = tmp_path / "a.jsonl"
    key, _ = write_trail(
        path, 60, max_bytes=4000, compress=True, integrity={"checkpoint_every": 1000}
    )
    backups = sorted(p for p in tmp_path.iterdir() if p.name.startswith("a.jsonl.2"))
    assert len(backups) >= 3
    for old in backups[:2]:
        old.unlink()
    report = verify(path, key)
    assert report.ok(strict=True), [str(f) for f in report.findings]
    assert Kind.RETENTION_START in kinds(report)


def test_gzipped_backups_are_read(tmp_path):
    """Rotated and compressed files are part of the verified trail."""
    path = tmp_path / "a.jsonl"
    key, handler = write_trail(path, 40, max_bytes=3000, compress=True, close=False)
    handler.run_maintenance()  # compress every backup now
    handler.close()
    gz = [p for p in tmp_path.iterdir() if p.suffix == ".gz"]
    assert gz
    with gzip.open(gz[0], "rb") as fh:
        assert b'"integrity"' in fh.readline()
    report = verify(path, key)
    assert report.ok(strict=True)
    assert report.records == 40


def test_forked_child_writes_its_own_stream(tmp_path):
    """A forked child seals into a new stream; both streams verify."""
    path = tmp_path / "a.jsonl"
    key, handler = write_trail(path, 5, close=False)
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        from audit_logging._model.event import new_event

        try:
            for i in range(7):
                handler.write_event(new_event("child", "tests", {"i": i}))
            handler.close()
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
    handler.close()
    report = verify(path, key)
    assert report.ok(strict=True), [str(f) for f in report.findings]
    assert report.streams == 2
    assert report.records == 12


def test_replayed_spill_is_appended_and_marked(tmp_path):
    """Spilled events replayed into a sealing sink get new seq numbers and say they are replays."""
    import json

    from audit_logging._engine.bus import Bus
    from audit_logging._model.event import new_event
    from audit_logging._sinks.file import RotatingJSONFileHandler

    spill = tmp_path / "spill"

    def broken(evt):
        raise OSError("disk gone")

    with Bus(spillover_dir=spill, asynchronous=False, circuit_max_fails=1000) as first:
        first.subscribe("spilled", broken, name="file")
        for i in range(3):
            first.publish(new_event("spilled", "tests", {"i": i}))
    path = tmp_path / "a.jsonl"
    key = generate_signing_key("k")
    sink = RotatingJSONFileHandler(path, integrity_key=key, flush_interval=0)
    with Bus(spillover_dir=spill, asynchronous=False) as second:
        second.subscribe("*", sink, name="file")
        second.publish(new_event("live", "tests", {}))
        assert second.recover_spillover() == 3
    records = [json.loads(x) for x in lines(path)]
    assert [r["integrity"]["seq"] for r in records] == list(range(len(records)))
    replays = [r for r in records if r["integrity"].get("replay")]
    assert [r["type"] for r in replays] == ["spilled"] * 3
    assert all(r["type"] != "spilled" for r in records if r not in replays)
    assert verify(path, key).ok(strict=True)


def test_two_writers_on_one_file_each_verify(tmp_path):
    """Two handlers sharing a rotating file interleave two streams; both verify, and a
    rotation by one is a checkpointed file boundary for the other."""
    from audit_logging._model.event import new_event
    from audit_logging._sinks.file import RotatingJSONFileHandler

    path = tmp_path / "a.jsonl"
    key = generate_signing_key("k")
    opts = {"integrity_key": key, "flush_interval": 0, "max_bytes": 3000}
    one = RotatingJSONFileHandler(path, **opts)
    two = RotatingJSONFileHandler(path, **opts)
    for i in range(30):
        (one if i % 3 else two).write_event(new_event("t", "s", {"i": i}))
    one.close()
    two.close()
    report = verify(path, key)
    assert report.ok(strict=True), [str(f) for f in report.findings]
    assert report.streams == 2
    assert report.records == 30


def test_integrity_turned_on_by_the_environment(tmp_path, monkeypatch):
    """AUDIT_INTEGRITY_KEY alone makes a sink seal; integrity=False still wins."""
    from audit_logging._model.event import new_event
    from audit_logging._sinks.file import RotatingJSONFileHandler

    key = generate_signing_key("env")
    monkeypatch.setenv("AUDIT_INTEGRITY_KEY", key.encode())
    sealed = RotatingJSONFileHandler(tmp_path / "a.jsonl", flush_interval=0)
    plain = RotatingJSONFileHandler(tmp_path / "b.jsonl", flush_interval=0, integrity=False)
    evt = new_event("t", "s", {})
    sealed.write_event(evt)
    plain.write_event(evt)
    sealed.close()
    plain.close()
    assert b'"integrity"' in (tmp_path / "a.jsonl").read_bytes()
    assert (tmp_path / "b.jsonl").read_bytes() == evt.to_json_bytes() + b"\n"
    assert verify(tmp_path / "a.jsonl", key).ok(strict=True)


def test_integrity_without_a_key_is_refused(tmp_path, monkeypatch):
    """integrity=True with no key anywhere is a ValueError naming how to get one."""
    from audit_logging._sinks.file import RotatingJSONFileHandler

    monkeypatch.delenv("AUDIT_INTEGRITY_KEY", raising=False)
    monkeypatch.delenv("AUDIT_INTEGRITY_KEY_FILE", raising=False)
    with pytest.raises(ValueError, match="keygen"):
        RotatingJSONFileHandler(tmp_path / "a.jsonl", integrity=True)
    with pytest.raises(ValueError, match="unknown integrity option"):
        RotatingJSONFileHandler(
            tmp_path / "a.jsonl", integrity={"every": 3}, integrity_key=generate_signing_key("k")
        )


def test_garbage_line_is_malformed(trail):
    """A line that is not JSON (a torn write, garbage) is named malformed, with its place."""
    path, key = trail
    data = lines(path)
    data.insert(7, b'{"id":"01a2-torn\n')
    put_lines(path, data)
    report = verify(path, key)
    malformed = [f for f in report.findings if f.kind is Kind.MALFORMED]
    assert len(malformed) == 1
    assert malformed[0].where.endswith(":8")
    assert report.records == 50
