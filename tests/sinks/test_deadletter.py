"""
Tests for audit_logging._sinks.deadletter: a dead-letter directory others could tamper with
is refused.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from audit_logging.sinks.database import DatabaseHandler
from tests.sinks.conftest import Database


def test_dead_letter_dir_writable_by_others_is_refused(sqlite_db: Database, tmp_path: Path) -> None:
    """A group- or world-writable dead-letter directory is refused at construction."""
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    with pytest.raises(ValueError, match="writable"):
        DatabaseHandler(sqlite_db.url, table=sqlite_db.new_table(), dead_letter_dir=shared)
