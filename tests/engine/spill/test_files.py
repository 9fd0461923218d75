"""
The spill directory: private modes, and refusing unsafe directories.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from audit_logging.exceptions import AuditError
from audit_logging.spillover import (
    SpillDirectoryError,
    SpillError,
    SpillFullError,
    SpillStore,
)
from tests.engine.spill._support import (
    Collector,
    ev,
    spill_name,
)

pytestmark = pytest.mark.timeout(60)


def test_files_and_dirs_get_private_modes_under_umask_000(tmp_path: Path) -> None:
    """With umask 000 the directories are 0700 and the spill and quarantine files 0600."""
    old = os.umask(0)
    try:
        directory = tmp_path / "a" / "b" / "spill"
        s = SpillStore(directory)
        s.write(ev(0))
        (directory / spill_name()).write_bytes(b"junk\n")
        s.recover(Collector())
        s.write(ev(1))
        assert s.current_file is not None
        spill_mode = stat.S_IMODE(s.current_file.stat().st_mode)
        s.close()
    finally:
        os.umask(old)
    for d in (tmp_path / "a", tmp_path / "a" / "b", directory, directory / "quarantine"):
        assert stat.S_IMODE(d.stat().st_mode) == 0o700, d
    assert spill_mode == 0o600
    (qfile,) = (directory / "quarantine").iterdir()
    assert stat.S_IMODE(qfile.stat().st_mode) == 0o600


def test_refuses_symlinked_directory(tmp_path: Path) -> None:
    """A spill directory that is a symlink is refused."""
    real = tmp_path / "real"
    real.mkdir(mode=0o700)
    (tmp_path / "link").symlink_to(real)
    with pytest.raises(SpillDirectoryError, match="symlink"):
        SpillStore(tmp_path / "link")


def test_refuses_regular_file(tmp_path: Path) -> None:
    """A path that is a regular file is refused with a ValueError."""
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match="not a directory"):
        SpillStore(tmp_path / "file")


@pytest.mark.parametrize("mode", [0o777, 0o770, 0o1777, 0o720])
def test_refuses_group_or_world_writable_directory(tmp_path: Path, mode: int) -> None:
    """A directory others can write to is refused."""
    d = tmp_path / "open"
    d.mkdir()
    d.chmod(mode)
    with pytest.raises(SpillDirectoryError, match="writable"):
        SpillStore(d)


def test_refuses_directory_owned_by_another_uid(tmp_path: Path) -> None:
    """A directory owned by another user is refused."""
    if os.geteuid() == 0:
        d = tmp_path / "foreign"
        d.mkdir(mode=0o700)
        os.chown(d, 12345, 12345)
    else:
        d = Path("/")
    with pytest.raises(SpillDirectoryError, match="owned by uid"):
        SpillStore(d)


def test_spill_directory_error_is_spill_and_value_error() -> None:
    """The refusal error is catchable as SpillError, AuditError, OSError and ValueError."""
    assert issubclass(SpillDirectoryError, SpillError)
    assert issubclass(SpillDirectoryError, ValueError)
    assert issubclass(SpillFullError, SpillError)
    assert issubclass(SpillError, AuditError)
    assert issubclass(SpillError, OSError)
