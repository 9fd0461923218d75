"""
Fixtures of the engine tests.
"""

from __future__ import annotations

from typing import Any

import pytest

from audit_logging.bus import Bus


@pytest.fixture
def buses():
    """Collects buses and closes them after the test."""
    made: list[Bus] = []

    def make(**kwargs: Any) -> Bus:
        kwargs.setdefault("lifecycle_events", False)
        bus = Bus(**kwargs)
        made.append(bus)
        return bus

    yield make
    for bus in made:
        bus.close(timeout=5)
