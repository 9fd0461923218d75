"""
Fixtures of the collector's tests: the mock Kafka broker and its cuttable proxy, the
databases (SQLite, the shared PostgreSQL and MariaDB, a throwaway PostgreSQL
cluster), and collectors and sinks closed after each test.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from audit_logging.collector import Collector
from tests.sinks.conftest import (  # noqa: F401 - fixtures for every test here
    db,
    mariadb_db,
    mariadb_proxy,
    mariadb_url,
    pg_cluster,
    pg_db,
    pg_proxy,
    pg_url,
    sqlite_db,
)
from tests.sinks.kafka_fixtures import (  # noqa: F401
    collect_leaked_sockets,
    kafka_proxy,
    mock_broker,
)

pytest.importorskip("confluent_kafka")
pytest.importorskip("kafka")


@pytest.fixture
def closing() -> Iterator[list[Any]]:
    """Collectors and sinks a test builds, closed at the end (collectors first)."""
    made: list[Any] = []
    yield made
    for thing in sorted(made, key=lambda x: not isinstance(x, Collector)):
        thing.close()
