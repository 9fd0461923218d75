"""
Tests for audit_logging._sinks.kafka.transport: the Kafka sink as the bus's transport.
"""

from __future__ import annotations

import pytest

from audit_logging.bus import Bus
from audit_logging.events import new_event
from audit_logging.sinks.kafka import KafkaTransport
from tests.sinks.kafka._support import BACKENDS, options
from tests.sinks.kafka_fixtures import (
    MockBroker,
    high_watermarks,
    unique_topic,
)

pytest.importorskip("kafka")
pytest.importorskip("confluent_kafka")

# kafka-python does not close the sockets of connections the cut proxy resets.
pytestmark = pytest.mark.filterwarnings(
    "ignore::ResourceWarning", "ignore::pytest.PytestUnraisableExceptionWarning"
)


@pytest.mark.timeout(30)
@pytest.mark.parametrize("backend", BACKENDS)
def test_transport_sends_every_event_and_flushes_at_bus_close(
    mock_broker: MockBroker, backend: str
) -> None:
    """KafkaTransport as BusConfig(transport=...): bus.close() leaves every event in the topic."""
    topic = unique_topic()
    transport = KafkaTransport(mock_broker.bootstrap, topic, **options(backend, async_send=True))
    with Bus(transport=transport, lifecycle_events=False, buffer_size=1000) as bus:
        for i in range(200):
            bus.publish(new_event("data_read", "tests", {"i": i}))
    assert transport.handler.closed
    assert sum(high_watermarks(mock_broker.bootstrap, topic).values()) == 200
