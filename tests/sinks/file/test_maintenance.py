"""
Tests for audit_logging._sinks.file.maintenance: compression in the background, age
retention that a clock stepped forward cannot fool, and the start-up sweep (only when
there is work, repairing interrupted compressions).
"""

from __future__ import annotations

import gzip
import os
import threading
from pathlib import Path
from typing import Any

from audit_logging._sinks.file.rotation import format_stamp
from audit_logging.sinks.file import RotatingJSONFileHandler
from tests._helpers import FakeClock
from tests.sinks.file._support import DAY, backups, events, file_bytes, write_all


def test_compression_runs_in_the_background_after_rotation(make: Any, tmp_path: Path) -> None:
    """The maintenance thread gzips a new backup without being asked."""
    handler = make(max_bytes=1024)
    write_all(handler, events(30))
    assert handler.rotations >= 1
    assert handler.wait_maintenance(timeout=30)
    assert backups(tmp_path)
    assert all(p.suffix == ".gz" for p in backups(tmp_path))
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_a_file_rotated_by_close_is_compressed(tmp_path: Path) -> None:
    """The last batch, written by close(), rotates the file: that backup is gzipped too
    (close used to stop the compressor right after asking it to start)."""
    handler = RotatingJSONFileHandler(
        tmp_path / "audit.jsonl", max_bytes=1024, flush_interval=1_000_000.0
    )
    first, last = events(5), events(30)
    write_all(handler, first)
    assert handler.rotations == 0
    for evt in last:
        handler.write_event(evt)
    handler.close()
    assert handler.rotations >= 1
    assert backups(tmp_path)
    assert all(p.suffix == ".gz" for p in backups(tmp_path))
    ids = [
        line for p in sorted(tmp_path.glob("audit.jsonl*")) for line in file_bytes(p).splitlines()
    ]
    assert len(ids) == 35


def test_wall_clock_stepped_forward_does_not_expire_fresh_backups(
    make: Any, tmp_path: Path
) -> None:
    """Backups written seconds ago survive a wall clock that jumps 40 days ahead."""
    clock = FakeClock(os.stat(tmp_path).st_mtime)
    handler = make(max_bytes=500, max_age_days=30, clock=clock, compress=False)
    write_all(handler, events(10))
    fresh = backups(tmp_path)
    clock.now += 40 * DAY  # the monotonic clock (real) has moved by well under a second
    write_all(handler, events(10))
    handler.run_maintenance()
    assert fresh
    assert set(fresh) <= set(backups(tmp_path))


def test_fresh_directory_starts_no_sweep_and_creates_no_lock_file(tmp_path: Path) -> None:
    """With nothing to sweep, construction leaves no thread that could touch the directory later."""
    before = set(threading.enumerate())
    handler = RotatingJSONFileHandler(tmp_path / "sub" / "audit.jsonl", flush_interval=3600)
    try:
        assert set(threading.enumerate()) == before
        assert sorted(p.name for p in (tmp_path / "sub").iterdir()) == ["audit.jsonl"]
    finally:
        handler.close()


def test_startup_sweep_repairs_interrupted_compressions(tmp_path: Path) -> None:
    """A raw backup is gzipped, a raw one whose .gz exists removed, orphan temp files deleted."""
    stamp = format_stamp(1_700_000_000)
    raw = tmp_path / f"audit.jsonl.{stamp}-11"
    raw.write_bytes(b'{"a":1}\n')
    done = tmp_path / f"audit.jsonl.{stamp}-12"
    done.write_bytes(b'{"b":2}\n')
    (tmp_path / f"audit.jsonl.{stamp}-12.gz").write_bytes(gzip.compress(b'{"b":2}\n'))
    orphan = tmp_path / f".audit.jsonl.{stamp}-13.abc.gz.tmp"
    orphan.write_bytes(b"partial")
    unrelated = tmp_path / "notes.txt"
    unrelated.write_bytes(b"keep me")
    handler = RotatingJSONFileHandler(tmp_path / "audit.jsonl")
    try:
        assert handler.wait_maintenance(timeout=30)
    finally:
        handler.close()
    assert not raw.exists()
    assert not done.exists()
    assert not orphan.exists()
    assert file_bytes(Path(f"{raw}.gz")) == b'{"a":1}\n'
    assert file_bytes(Path(f"{done}.gz")) == b'{"b":2}\n'
    assert unrelated.read_bytes() == b"keep me"
