"""
Tests for audit_logging._sinks.file.retention: everything is kept by default, backup_count
keeps the newest backups, max_age_days deletes only backups old by name and by mtime.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from tests._helpers import FakeClock
from tests.sinks.file._support import DAY, all_ids, backups, events, write_all


def test_keep_everything_is_the_default(make: Any, tmp_path: Path) -> None:
    """Without backup_count or max_age_days no backup is ever deleted."""
    handler = make(max_bytes=600, clock=FakeClock(1e9))
    write_all(handler, events(100))
    handler.run_maintenance()
    assert handler.rotations >= 20
    assert len(backups(tmp_path)) == handler.rotations
    assert len(all_ids(tmp_path)) == 100


def test_stdlib_backupcount_zero_keeps_everything(make: Any, tmp_path: Path) -> None:
    """backupCount=0 (stdlib spelling) neither truncates nor deletes."""
    handler = make(maxBytes=600, backupCount=0)
    write_all(handler, events(60))
    handler.run_maintenance()
    assert len(backups(tmp_path)) == handler.rotations > 5
    assert len(all_ids(tmp_path)) == 60


def test_backup_count_keeps_the_newest_backups(make: Any, tmp_path: Path) -> None:
    """backup_count=3 leaves three backups holding the latest events before the current file."""
    handler = make(max_bytes=800, backup_count=3)
    evts = events(120)
    write_all(handler, evts)
    handler.run_maintenance()
    assert handler.rotations > 3
    assert len(backups(tmp_path)) == 3
    ids = [e.id for e in evts]
    kept = sorted(all_ids(tmp_path), key=ids.index)
    assert kept == ids[len(ids) - len(kept) :]


def test_max_age_days_deletes_only_old_backups(make: Any, tmp_path: Path) -> None:
    """Backups named and modified before the limit go; younger ones and the current file stay."""
    clock = FakeClock(os.stat(tmp_path).st_mtime)
    handler = make(max_bytes=500, max_age_days=30, clock=clock, monotonic=clock, compress=False)
    write_all(handler, events(10))
    old = set(backups(tmp_path))
    clock.now += 20 * DAY
    write_all(handler, events(10))
    young = set(backups(tmp_path)) - old
    assert old
    assert young
    clock.now += 20 * DAY
    handler.run_maintenance()
    assert set(backups(tmp_path)) == young
    assert (tmp_path / "audit.jsonl").exists()


def test_max_age_days_spares_a_backup_whose_mtime_is_recent(make: Any, tmp_path: Path) -> None:
    """A backup whose name looks old but which was modified recently is kept (clock was wrong)."""
    clock = FakeClock(os.stat(tmp_path).st_mtime - 100 * DAY)
    handler = make(max_bytes=500, max_age_days=30, clock=clock, monotonic=clock, compress=False)
    write_all(handler, events(10))
    before = backups(tmp_path)
    clock.now += 100 * DAY
    handler.run_maintenance()
    assert before
    assert backups(tmp_path) == before
