"""
The ``make`` fixture of the file sink's tests: handlers in tmp_path, closed after the test.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from audit_logging.sinks.file import RotatingJSONFileHandler


@pytest.fixture
def make(tmp_path: Path) -> Iterator[Any]:
    """Build handlers in tmp_path and close them after the test."""
    made: list[RotatingJSONFileHandler] = []

    def factory(name: str = "audit.jsonl", **kwargs: Any) -> RotatingJSONFileHandler:
        handler = RotatingJSONFileHandler(tmp_path / name, **kwargs)
        made.append(handler)
        return handler

    yield factory
    for handler in made:
        handler.close()
