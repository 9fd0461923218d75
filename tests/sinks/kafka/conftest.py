"""
Fixtures of the Kafka sink's tests: the mock broker, the proxy that can be cut, handlers
closed after the test, and the check that no test leaks a socket.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from audit_logging.sinks.kafka import KafkaHandler
from tests.sinks.kafka_fixtures import (  # noqa: F401 - fixtures for every test here
    collect_leaked_sockets,
    kafka_proxy,
    mock_broker,
)


@pytest.fixture
def handlers() -> Iterator[list[KafkaHandler]]:
    """Handlers a test creates, closed at the end."""
    made: list[KafkaHandler] = []
    yield made
    for handler in made:
        handler.close()
