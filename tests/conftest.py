"""
Shared pytest fixtures: kept small and generic on purpose.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def restore_root_logger() -> Iterator[logging.Logger]:
    """
    Put the root logger's handlers and level back after each test.

    Tests wire handlers into ``logging`` (dictConfig, AuditHandler); without this a
    handler left behind by one test would receive the records of every later one.
    """
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        yield root
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
