"""
The ``handler`` fixture of the SQL sink's tests: a handler on a fresh table of each backend.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from audit_logging.sinks.database import DatabaseHandler
from tests.sinks.conftest import Database
from tests.sinks.database._support import FAR, make


@pytest.fixture
def handler(db: Database) -> Iterator[DatabaseHandler]:
    """A handler on a fresh table of each backend, writing only on flush."""
    yield from make(db, batch_size=1000, flush_interval=FAR)
