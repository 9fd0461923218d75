"""
What the tests of the Kafka sink share: the back-ends, handler options for the mock broker.
"""

from __future__ import annotations

from typing import Any

from audit_logging.sinks.kafka import KafkaHandler

BACKENDS = ("kafka-python", "confluent")


FAST_FAIL = {"reconnect_backoff_max_ms": 300, "request_timeout_ms": 1000}


def options(backend: str, **extra: Any) -> dict[str, Any]:
    """Handler options for a back-end against the mock broker."""
    opts: dict[str, Any] = {"backend": backend}
    if backend == "kafka-python":
        opts["api_version"] = (2, 0)  # kafka-python's version probe does not suit the mock
    opts.update(extra)
    return opts


def make(handlers: list[KafkaHandler], servers: str, topic: str, **kwargs: Any) -> KafkaHandler:
    """A KafkaHandler closed after the test."""
    handler = KafkaHandler(servers, topic, **kwargs)
    handlers.append(handler)
    return handler
