"""
Tests for audit_logging._sinks.kafka.kafka_python: the producer is retired only when its
batches really expired, and kafka-python's errors are translated into the sink's.
"""

from __future__ import annotations

import threading
import time

import pytest

from audit_logging.exceptions import KafkaDeliveryError
from tests.sinks.kafka_fixtures import MockBroker

pytest.importorskip("kafka")
pytest.importorskip("confluent_kafka")

# kafka-python does not close the sockets of connections the cut proxy resets.
pytestmark = pytest.mark.filterwarnings(
    "ignore::ResourceWarning", "ignore::pytest.PytestUnraisableExceptionWarning"
)


@pytest.mark.timeout(30)
def test_a_timeout_retires_only_a_producer_old_enough_to_have_expired(
    mock_broker: MockBroker,
) -> None:
    """
    kafka-python: an expired batch (KafkaTimeoutError) retires the idempotent
    producer, unless the producer is younger than delivery_timeout_ms (then the
    record came from one already retired); other errors never retire it.
    """
    from kafka.errors import KafkaConnectionError, KafkaTimeoutError

    from audit_logging._sinks.kafka.kafka_python import KafkaPythonBackend

    config = {"api_version": (2, 0), "enable_idempotence": True, "delivery_timeout_ms": 60_000}
    backend = KafkaPythonBackend(mock_broker.bootstrap, config)
    try:
        backend.start()
        first = backend._producer
        backend.record_failed(KafkaTimeoutError("expired"))  # a 0 s old producer
        backend._born = (first, time.monotonic() - 61)  # as if it had lived past the timeout
        backend.record_failed(KafkaConnectionError("refused"))
        assert backend._producer is first
        backend.record_failed(KafkaTimeoutError("expired"))
        for thread in threading.enumerate():
            if thread.name == "audit-kafka-reset":
                thread.join(10)
        assert backend._producer is None  # the next send builds a fresh producer
        assert not first._sender.is_alive()
        backend.start()
        assert backend._producer is not None
        assert backend._producer is not first
    finally:
        backend.close(2)


def test_kafka_python_errors_are_translated_into_the_sinks() -> None:
    """A record over the size limit is RecordTooLarge with the client's message; any other
    kafka-python error is a KafkaDeliveryError (a ConnectionError) chained to it."""
    from kafka.errors import KafkaTimeoutError, MessageSizeTooLargeError, RecordListTooLargeError

    from audit_logging._sinks.kafka.backend import RecordTooLarge
    from audit_logging._sinks.kafka.kafka_python import KafkaPythonBackend

    backend = KafkaPythonBackend("127.0.0.1:1", {"api_version": (2, 0)})
    for raw in (MessageSizeTooLargeError("2097300 bytes"), RecordListTooLargeError("big")):
        error = backend.translate(raw)
        assert isinstance(error, RecordTooLarge)
        assert str(error) == str(raw)
        assert error.__cause__ is raw
    raw = KafkaTimeoutError("expired")
    error = backend.translate(raw)
    assert type(error) is KafkaDeliveryError
    assert isinstance(error, ConnectionError)
    assert str(error) == f"KafkaTimeoutError: {raw}"
    assert error.__cause__ is raw
