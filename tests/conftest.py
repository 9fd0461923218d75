"""
Shared pytest fixtures: kept small and generic on purpose.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest

from audit_logging.bus import Bus
from tests._helpers import Recorder


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


@pytest.fixture
def isolated_handlers() -> Iterator[None]:
    """
    Hide other tests' handlers from ``dictConfig``, which closes every live handler.

    Opt-in (``pytest.mark.usefixtures("isolated_handlers")``) for tests that call
    ``logging.config.dictConfig``.
    """
    handler_list: Any = getattr(logging, "_handlerList")  # noqa: B009
    with logging._lock:  # type: ignore[attr-defined]
        saved = handler_list[:]
        handler_list[:] = []
    try:
        yield
    finally:
        with logging._lock:  # type: ignore[attr-defined]
            handler_list[:] = saved + handler_list[:]


@pytest.fixture
def bus() -> Iterator[Bus]:
    """
    A synchronous bus without lifecycle events, closed after the test.
    """
    with Bus(asynchronous=False, lifecycle_events=False) as b:
        yield b


@pytest.fixture
def rec(bus: Bus) -> Recorder:
    """
    A recorder subscribed to every event of ``bus``.
    """
    r = Recorder()
    bus.subscribe("*", r, name="rec")
    return r
