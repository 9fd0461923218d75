"""
Tests for audit_logging._sinks.file.files: every file gets exactly the configured mode,
symbolic links and non-regular files are refused, never followed.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path
from typing import Any

import pytest

from audit_logging.events import new_event
from audit_logging.sinks.file import RotatingJSONFileHandler
from tests.sinks.file._support import events, write_all


@pytest.mark.parametrize("umask", [0o000, 0o077])
@pytest.mark.parametrize("mode", [0o640, 0o600])
def test_every_file_gets_the_configured_mode_whatever_the_umask(
    tmp_path: Path, umask: int, mode: int
) -> None:
    """Current file, backups, .gz and lock files all get exactly ``mode``."""
    old = os.umask(umask)
    try:
        handler = RotatingJSONFileHandler(tmp_path / "audit.jsonl", max_bytes=600, mode=mode)
        write_all(handler, events(40))
        handler.run_maintenance()
        handler.close()
    finally:
        os.umask(old)
    files = list(tmp_path.iterdir())
    assert any(p.suffix == ".gz" for p in files)
    assert any(p.name.endswith(".lock") for p in files)
    assert {p.name: stat.S_IMODE(p.stat().st_mode) for p in files} == {p.name: mode for p in files}


def test_symlinked_log_file_is_refused(tmp_path: Path) -> None:
    """A symlink at the log path raises ELOOP at construction and the target is untouched."""
    target = tmp_path / "passwd"
    target.write_bytes(b"root:x:0:0\n")
    (tmp_path / "audit.jsonl").symlink_to(target)
    with pytest.raises(OSError, match="symbolic link") as info:
        RotatingJSONFileHandler(tmp_path / "audit.jsonl")
    assert info.value.errno == errno.ELOOP
    assert target.read_bytes() == b"root:x:0:0\n"


def test_symlink_planted_later_is_not_followed(make: Any, tmp_path: Path) -> None:
    """Replacing the log with a symlink between writes makes the write fail, not follow it."""
    handler = make(flush_interval=0)
    handler.write_event(new_event("t", "s"))
    target = tmp_path / "victim"
    target.write_bytes(b"")
    (tmp_path / "audit.jsonl").rename(tmp_path / "moved")
    (tmp_path / "audit.jsonl").symlink_to(target)
    with pytest.raises(OSError, match="symbolic link"):
        handler.write_event(new_event("t", "s"))
    assert target.read_bytes() == b""


def test_non_regular_file_is_refused(tmp_path: Path) -> None:
    """A FIFO (or device) at the log path is refused."""
    os.mkfifo(tmp_path / "audit.jsonl")
    with pytest.raises(OSError, match="regular file"):
        RotatingJSONFileHandler(tmp_path / "audit.jsonl")
