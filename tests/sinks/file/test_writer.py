"""
Tests for audit_logging._sinks.file.writer: rotation keeps every line and their order,
backup names never go back in time, a torn fragment is isolated, a deleted file is
recreated.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from audit_logging._sinks.file.rotation import scan_rotated
from tests._helpers import FakeClock
from tests.sinks.file._support import (
    all_ids,
    backups,
    events,
    file_bytes,
    log_files,
    strict_loads,
    write_all,
)


def test_rotation_keeps_every_line_across_current_and_gzipped_backups(
    make: Any, tmp_path: Path
) -> None:
    """With a small max_bytes every event is in exactly one file, each file within the limit."""
    handler = make(max_bytes=2048)
    evts = events(300)
    write_all(handler, evts)
    handler.run_maintenance()
    assert handler.rotations > 5
    assert sorted(all_ids(tmp_path)) == sorted(e.id for e in evts)
    assert all(p.suffix == ".gz" for p in backups(tmp_path))
    assert all(len(file_bytes(p)) <= 2048 for p in log_files(tmp_path))


def test_lines_keep_their_order_across_rotations(make: Any, tmp_path: Path) -> None:
    """Backups sorted by name, then the current file, give the events in write order."""
    handler = make(max_bytes=1500, compress=False)
    evts = events(100)
    write_all(handler, evts)
    ordered = [Path(f.path) for f in scan_rotated(str(tmp_path), "audit.jsonl")]
    ordered.append(tmp_path / "audit.jsonl")
    ids = [strict_loads(line)["id"] for p in ordered for line in file_bytes(p).splitlines()]
    assert ids == [e.id for e in evts]


def test_backup_names_keep_write_order_when_the_clock_steps_back(make: Any, tmp_path: Path) -> None:
    """A clock that stands still or jumps back an hour never reorders or reuses backup names."""
    clock = FakeClock(1_800_000_000.5)
    handler = make(max_bytes=300, compress=False, clock=clock)
    evts = events(40)
    write_all(handler, evts[:20])
    clock.now -= 3600
    write_all(handler, evts[20:])
    ordered = [Path(f.path) for f in scan_rotated(str(tmp_path), "audit.jsonl")]
    assert len({p.name for p in ordered}) == len(ordered) == handler.rotations > 6
    ordered.append(tmp_path / "audit.jsonl")
    ids = [strict_loads(line)["id"] for p in ordered for line in file_bytes(p).splitlines()]
    assert ids == [e.id for e in evts]


def test_a_torn_fragment_never_glues_to_the_next_line(make: Any, tmp_path: Path) -> None:
    """A partial last line left by a crash stays on its own line."""
    (tmp_path / "audit.jsonl").write_bytes(b'{"id": "torn')
    handler = make()
    evts = events(3)
    write_all(handler, evts)
    first, *rest = (tmp_path / "audit.jsonl").read_bytes().splitlines()
    assert first == b'{"id": "torn'
    assert [strict_loads(line)["id"] for line in rest] == [e.id for e in evts]


def test_deleted_file_is_recreated_not_written_to_the_void(make: Any, tmp_path: Path) -> None:
    """If someone deletes the log, the next batch goes to a new file at the path."""
    handler = make()
    write_all(handler, events(2))
    (tmp_path / "audit.jsonl").unlink()
    evts = events(3)
    write_all(handler, evts)
    assert all_ids(tmp_path) == [e.id for e in evts]
