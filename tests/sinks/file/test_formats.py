"""
Tests for RotatingJSONFileHandler's ``format=`` option: one ECS or OCSF document per line,
also when configured through ``logging.config.dictConfig``.
"""

from __future__ import annotations

import json
import logging
import logging.config
from pathlib import Path

import pytest

from audit_logging._model.formats import to_ecs, to_ocsf
from audit_logging.events import new_event
from audit_logging.sinks.file import RotatingJSONFileHandler


@pytest.mark.parametrize(("fmt", "render"), [("ecs", to_ecs), ("ocsf", to_ocsf)])
def test_each_line_is_the_chosen_rendering(tmp_path: Path, fmt: str, render: object) -> None:
    """format="ecs"/"ocsf" writes that document, one per line."""
    path = tmp_path / "audit.jsonl"
    handler = RotatingJSONFileHandler(path, format=fmt, flush_interval=0)
    events = [new_event("auth_login", "tests", {"user_id": f"u{i}"}) for i in range(3)]
    try:
        for evt in events:
            handler.write_event(evt)
    finally:
        handler.close()
    lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert lines == [render(evt) for evt in events]  # type: ignore[operator]


def test_format_from_dictconfig(tmp_path: Path) -> None:
    """A LOGGING dict selects the format like any other option; records become ECS lines."""
    path = tmp_path / "ecs.jsonl"
    logging.config.dictConfig(
        {
            "version": 1,
            "disable_existing_loggers": False,
            "handlers": {
                "audit": {
                    "class": "audit_logging.sinks.file.RotatingJSONFileHandler",
                    "filename": str(path),
                    "format": "ecs",
                }
            },
            "loggers": {"tests.formats": {"handlers": ["audit"], "level": "INFO"}},
        }
    )
    logger = logging.getLogger("tests.formats")
    try:
        logger.warning("disk low")
    finally:
        for handler in list(logger.handlers):
            logger.removeHandler(handler)
            handler.close()
    (line,) = [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines()]
    assert line["event"]["action"] == "log_warning"
    assert line["message"] == "disk low"
    assert line["log"]["level"] == "warning"


def test_unknown_format_is_refused(tmp_path: Path) -> None:
    """An unknown format raises ValueError before a file is created."""
    with pytest.raises(ValueError, match="format"):
        RotatingJSONFileHandler(tmp_path / "x.jsonl", format="cef")
    assert not (tmp_path / "x.jsonl").exists()
