"""
The Kafka sink and bus transport.

A public face: the implementation lives in :mod:`audit_logging._sinks.kafka`.
"""

from audit_logging._sinks.kafka import KafkaHandler, KafkaTransport, traceparent
from audit_logging.exceptions import KafkaDeliveryError, KafkaSinkError

__all__ = [
    "KafkaDeliveryError",
    "KafkaHandler",
    "KafkaSinkError",
    "KafkaTransport",
    "traceparent",
]
