"""
Fixtures for the fault-injection suite (issue #8): the real servers, the throwaway
PostgreSQL cluster, the loopback TCP proxies and the mock Kafka broker of the sink
tests, shared here so that every scenario runs against the real thing.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from audit_logging.bus import Bus
from tests.sinks.conftest import (  # noqa: F401
    mariadb_db,
    mariadb_proxy,
    mariadb_url,
    pg_cluster,
    pg_db,
    pg_proxy,
    pg_url,
    sqlite_db,
)
from tests.sinks.kafka_fixtures import kafka_proxy, mock_broker  # noqa: F401


@pytest.fixture
def buses() -> Iterator[Any]:
    """Builds buses and closes them after the test (bounded, whatever the test left)."""
    made: list[Bus] = []

    def make(**kwargs: Any) -> Bus:
        bus = Bus(**kwargs)
        made.append(bus)
        return bus

    yield make
    for bus in made:
        bus.close(timeout=10)
