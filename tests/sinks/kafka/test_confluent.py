"""
Tests for audit_logging._sinks.kafka.confluent: librdkafka's errors are translated into the
sink's (a record over the size limit, a full queue, an unreachable broker).
"""

from __future__ import annotations

import pytest

from audit_logging.exceptions import KafkaDeliveryError
from tests.sinks.conftest import free_port

pytest.importorskip("confluent_kafka")


def test_librdkafka_errors_are_translated_into_the_sinks() -> None:
    """MSG_SIZE_TOO_LARGE and RECORD_LIST_TOO_LARGE are RecordTooLarge with librdkafka's
    message; a full local queue or any other error is a KafkaDeliveryError chained to it."""
    from confluent_kafka import KafkaError, KafkaException

    from audit_logging._sinks.kafka.backend import RecordTooLarge
    from audit_logging._sinks.kafka.confluent import ConfluentBackend

    backend = ConfluentBackend("127.0.0.1:1", {})
    try:
        for code in (KafkaError.MSG_SIZE_TOO_LARGE, KafkaError.RECORD_LIST_TOO_LARGE):
            raw = KafkaException(KafkaError(code))
            error = backend.translate(raw)
            assert isinstance(error, RecordTooLarge)
            assert str(error) == str(raw)
            assert error.__cause__ is raw
        for raw in (KafkaException(KafkaError(KafkaError._MSG_TIMED_OUT)), BufferError("full")):
            error = backend.translate(raw)
            assert type(error) is KafkaDeliveryError
            assert isinstance(error, ConnectionError)
            assert str(error) == f"{type(raw).__name__}: {raw}"
            assert error.__cause__ is raw
    finally:
        backend.close(0)


@pytest.mark.timeout(30)
def test_an_unreachable_broker_is_a_delivery_error_not_a_client_error() -> None:
    """start() against a port nothing listens on raises KafkaDeliveryError chained to
    librdkafka's KafkaException, so callers never need confluent_kafka's classes."""
    from confluent_kafka import KafkaException

    from audit_logging._sinks.kafka.confluent import ConfluentBackend

    config = {"max_block_ms": 300}
    backend = ConfluentBackend(f"127.0.0.1:{free_port()}", config)
    try:
        with pytest.raises(KafkaDeliveryError) as info:
            backend.start()
    finally:
        backend.close(0)
    assert isinstance(info.value.__cause__, KafkaException)
