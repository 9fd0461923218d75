"""
Every file the package creates gets its documented mode whatever the umask.

One run of each writer under umask 000 (nothing taken away: a default mode
would show as 0666/0777) and 077/277 (owner bits only, or fewer): the JSON log
and its gzipped backups 0640, the SQLite database and its -wal/-shm files 0640,
spill, quarantine and dead-letter files 0600 and their directories 0700.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from audit_logging import new_info
from audit_logging._sinks.database.engine import SQLITE_FILE_MODE
from audit_logging.sinks.database import DatabaseHandler
from audit_logging.sinks.file import RotatingJSONFileHandler
from audit_logging.spillover import SpillStore

pytest.importorskip("sqlalchemy")

UMASKS = [0o000, 0o077, 0o277]


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


@pytest.fixture
def umask(request):
    old = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(old)


@pytest.mark.parametrize("umask", UMASKS, indirect=True)
def test_sqlite_database_and_its_wal_files_are_0640(tmp_path: Path, umask: int) -> None:
    """SQLite would create the file 0644 (0666 - umask); the sink creates it 0640 first."""
    path = tmp_path / "audit.db"
    handler = DatabaseHandler(f"sqlite:///{path}", flush_interval=60)
    try:
        with handler.engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA journal_mode=WAL")
        for n in range(3):
            handler.write_event(new_info("t", f"m{n}"))
        handler.flush()
        wal = Path(f"{path}-wal")
        shm = Path(f"{path}-shm")
        assert wal.exists()
        assert shm.exists()
        modes = {p.name: _mode(p) for p in (path, wal, shm)}
    finally:
        handler.close()
    assert modes == dict.fromkeys(modes, SQLITE_FILE_MODE), modes


def test_an_existing_sqlite_file_keeps_its_mode(tmp_path: Path) -> None:
    """A database the owner created (0600, say) is never widened."""
    path = tmp_path / "audit.db"
    path.touch(mode=0o600)
    os.chmod(path, 0o600)
    handler = DatabaseHandler(f"sqlite:///{path}")
    try:
        handler.write_event(new_info("t", "m"))
        handler.flush()
    finally:
        handler.close()
    assert _mode(path) == 0o600


def test_a_symlink_planted_as_the_database_is_not_followed_to_create(tmp_path: Path) -> None:
    """A dangling symlink in the database's place does not create a file elsewhere 0640."""
    target = tmp_path / "elsewhere.db"
    (tmp_path / "audit.db").symlink_to(target)
    handler = DatabaseHandler(f"sqlite:///{tmp_path / 'audit.db'}", create_table=False)
    handler.close()
    assert not target.exists() or _mode(target) != SQLITE_FILE_MODE


@pytest.mark.parametrize("umask", UMASKS, indirect=True)
def test_log_spill_and_dead_letter_files_get_their_modes(tmp_path: Path, umask: int) -> None:
    """The JSON log (and its .gz backup) 0640; spill and dead-letter files 0600, dirs 0700."""
    log = RotatingJSONFileHandler(tmp_path / "logs" / "audit.log", max_bytes=200)
    try:
        for n in range(10):
            log.write_event(new_info("t", f"message {n:03d}" * 3))
        log.flush()
        log.wait_maintenance(10)
    finally:
        log.close()
    logs = sorted((tmp_path / "logs").iterdir())
    assert any(p.name.endswith(".gz") for p in logs), logs
    for p in logs:
        if p.name.endswith((".log", ".gz")):
            assert _mode(p) == 0o640, p

    spill = SpillStore(tmp_path / "spill")
    spill.write(new_info("t", "spilled"))
    spill.close()
    assert _mode(tmp_path / "spill") == 0o700
    for p in (tmp_path / "spill").iterdir():
        if p.is_file():
            assert _mode(p) == 0o600, p

    db = DatabaseHandler(
        "sqlite://", dead_letter_dir=tmp_path / "dead", max_payload_bytes=10, flush_interval=60
    )
    try:
        db.write_event(new_info("t", "x" * 100))
        db.flush()
    finally:
        db.close()
    assert _mode(tmp_path / "dead") == 0o700
    (dead,) = (tmp_path / "dead").iterdir()
    assert _mode(dead) == 0o600
