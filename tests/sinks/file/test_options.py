"""
Tests for audit_logging._sinks.file.options: stdlib spellings carry over, bad values are
refused with a clear error, the path is resolved once.
"""

from __future__ import annotations

import logging
import logging.config
import stat
from pathlib import Path
from typing import Any

import pytest

from audit_logging.sinks.file import RotatingJSONFileHandler
from tests.sinks.file._support import backups, strict_loads


def test_dotdot_and_symlinked_directories_are_resolved_once(tmp_path: Path) -> None:
    """``..`` and a symlinked directory are resolved at construction into the real path."""
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    (tmp_path / "other").mkdir()
    handler = RotatingJSONFileHandler(tmp_path / "other" / ".." / "link" / "audit.jsonl")
    handler.close()
    assert handler.baseFilename == str((tmp_path / "real" / "audit.jsonl").resolve())
    assert (tmp_path / "real" / "audit.jsonl").exists()


def test_stdlib_aliases_work_in_dictconfig(tmp_path: Path) -> None:
    """A LOGGING dict written for RotatingFileHandler carries over (maxBytes, backupCount, mode)."""
    logging.config.dictConfig(
        {
            "version": 1,
            "disable_existing_loggers": False,
            "handlers": {
                "audit": {
                    "class": "audit_logging.sinks.file.RotatingJSONFileHandler",
                    "filename": str(tmp_path / "audit.jsonl"),
                    "maxBytes": 700,
                    "backupCount": 2,
                    "encoding": "utf-8",
                    "mode": "a",
                    "flush_interval": 0,
                }
            },
            "loggers": {
                "tests.file.dictconfig": {
                    "handlers": ["audit"],
                    "level": "INFO",
                    "propagate": False,
                }
            },
        }
    )
    logger = logging.getLogger("tests.file.dictconfig")
    (handler,) = logger.handlers
    try:
        for i in range(40):
            logger.info("event %d", i)
        assert isinstance(handler, RotatingJSONFileHandler)
        handler.run_maintenance()
    finally:
        logger.removeHandler(handler)
        handler.close()
    assert len(backups(tmp_path)) == 2
    assert stat.S_IMODE((tmp_path / "audit.jsonl").stat().st_mode) == 0o640
    last = (tmp_path / "audit.jsonl").read_bytes().splitlines()[-1]
    assert strict_loads(last)["payload"]["message"] == "event 39"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_bytes": 10, "maxBytes": 20},
        {"backup_count": 1, "backupCount": 2},
        {"encoding": "latin-1"},
        {"mode": "w"},
        {"mode": 0o200},
        {"max_bytes": -1},
        {"backup_count": -1},
        {"max_age_days": -1},
    ],
)
def test_invalid_options_are_refused(tmp_path: Path, kwargs: dict[str, Any]) -> None:
    """Out-of-range values and disagreeing spellings raise ValueError."""
    with pytest.raises(ValueError):
        RotatingJSONFileHandler(tmp_path / "audit.jsonl", **kwargs)


def test_octal_mode_string_is_accepted(make: Any, tmp_path: Path) -> None:
    """mode='0600' (from an ini file or env) sets the permission bits."""
    make(mode="0600")
    assert stat.S_IMODE((tmp_path / "audit.jsonl").stat().st_mode) == 0o600
