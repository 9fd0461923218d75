"""
The Kafka sink: a producer handler on kafka-python or confluent-kafka, and a bus transport.

What other layers may use (the faces and the command line import these names from
here, never from the modules below); importing them needs no Kafka client, the
chosen client is imported when a handler is built:

- :class:`KafkaHandler`, the sink, and :class:`KafkaTransport`, the same machinery
  as the bus's ``Transport``;
- :func:`traceparent`, the W3C header value a record carries for an event's span;
- :func:`verify_kafka` and :func:`verify_messages`: prove a topic unchanged, and
  :func:`sealed_record`, a consumed record's integrity fields (the collector's verifier).

Inside, one module per responsibility: ``handler`` (records, delivery accounting,
dead letters, bounded close), ``transport``, ``backend`` (what a client must offer,
and how its errors are translated), ``sealing`` and ``verify`` (integrity),
``kafka_python`` and ``confluent`` (the two clients, each translating its own
errors in one place) and ``partitioner`` (the
Java client's key hash for kafka-python, faster).
"""

from __future__ import annotations

from audit_logging._sinks.kafka.handler import KafkaHandler, traceparent
from audit_logging._sinks.kafka.transport import KafkaTransport
from audit_logging._sinks.kafka.verify import sealed_record, verify_kafka, verify_messages

__all__ = [
    "KafkaHandler",
    "KafkaTransport",
    "sealed_record",
    "traceparent",
    "verify_kafka",
    "verify_messages",
]
