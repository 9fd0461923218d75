"""
Verifying an audit topic against its signed checkpoints (``<topic>.checkpoints``).

Both topics are read from the beginning up to the high watermarks taken at the
start (with confluent-kafka, the ``kafka-fast`` extra). Records are grouped by
stream and checked in ``seq`` order: a stream's records spread over partitions, so
Kafka has no single storage order and "reordered" does not apply; what can happen
to a topic is an inserted record (produced by someone else: a duplicate ``seq``, no
integrity headers, or after a final checkpoint), a record whose value or headers
were forged, a deletion (retention or ``DeleteRecords`` at the start: vouched for
only at a checkpoint, otherwise named), and forged checkpoints. Locations are
``<topic>[<partition>]@<offset>``.

:func:`verify_messages` does the checking on already consumed
``(partition, offset, headers, value)`` tuples, so a consumer that reads the topic
itself (the collector) can use it.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable
from typing import Any

from audit_logging._integrity import Keyring, Kind, Report, Sealed, StreamVerifier, record_leaf
from audit_logging._sinks.kafka.sealing import (
    HEADER_PREV,
    HEADER_REPLAY,
    HEADER_SEQ,
    HEADER_STREAM,
    header_map,
)
from audit_logging.exceptions import MissingDependencyError

__all__ = ["Message", "sealed_record", "verify_kafka", "verify_messages"]

Message = tuple[int, int, Any, bytes]
"""(partition, offset, headers, value) of one consumed record."""


def sealed_record(headers: Any, value: bytes) -> Sealed | None:
    """
    The integrity fields of a consumed record (either client's headers), or None without them.
    """
    h = header_map(headers)
    try:
        stream = h[HEADER_STREAM].decode("ascii")
        seq = int(h[HEADER_SEQ])
        prev = bytes.fromhex(h[HEADER_PREV].decode("ascii"))
    except (KeyError, ValueError, UnicodeDecodeError):
        return None
    if len(prev) != 32 or seq < 0:
        return None
    replay = h.get(HEADER_REPLAY) == b"1"
    return Sealed(stream, seq, prev, replay, record_leaf(stream, seq, prev, value, replay))


def verify_messages(
    topic: str,
    messages: Iterable[Message],
    checkpoints: Iterable[tuple[str, str]],
    keyring: Keyring,
    *,
    allow_unsealed: bool = False,
    verifier: StreamVerifier | None = None,
) -> Report:
    """
    Verify consumed records against ``(note, where)`` checkpoints.
    """
    v = verifier if verifier is not None else StreamVerifier(keyring)
    for note, where in checkpoints:
        v.add_checkpoint(note, where)
    sealed: list[tuple[Sealed, str]] = []
    for partition, offset, headers, value in messages:
        where = f"{topic}[{partition}]@{offset}"
        record = sealed_record(headers, value or b"")
        if record is None:
            if not allow_unsealed:
                v.note(Kind.INSERTED, "", where, "a record without valid integrity headers")
            continue
        sealed.append((record, where))
    sealed.sort(key=lambda item: (item[0].stream, item[0].seq))
    for record, where in sealed:
        v.add_record(record, where)
    return v.finish()


def _consume(servers: str, topic: str, timeout: float) -> list[Message]:
    try:
        from confluent_kafka import Consumer, TopicPartition
    except ImportError:  # pragma: no cover - the test extra has it
        raise MissingDependencyError("confluent-kafka", "kafka-fast") from None
    consumer = Consumer(
        {
            "bootstrap.servers": servers,
            "group.id": f"audit-verify-{uuid.uuid4().hex}",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "log_level": 0,
        }
    )
    messages: list[Message] = []
    try:
        metadata = consumer.list_topics(topic, timeout=timeout)
        info = metadata.topics.get(topic)
        if info is None or info.error is not None:
            raise LookupError(f"no topic {topic!r}")
        marks = {}
        for p in info.partitions:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=timeout)
            if high > low:
                marks[p] = (low, high)
        wanted = sum(high - low for low, high in marks.values())
        consumer.assign([TopicPartition(topic, p, low) for p, (low, _) in marks.items()])
        deadline = time.monotonic() + timeout
        while len(messages) < wanted and time.monotonic() < deadline:
            for m in consumer.consume(1000, 0.5):
                partition, offset = m.partition(), m.offset()
                if m.error() is not None or partition is None or offset is None:
                    continue
                if offset < marks[partition][1]:
                    messages.append((partition, offset, m.headers(), m.value() or b""))
    finally:
        consumer.close()
    return messages


def verify_kafka(
    bootstrap_servers: str,
    topic: str,
    keyring: Keyring,
    *,
    checkpoint_topic: str | None = None,
    allow_unsealed: bool = False,
    timeout: float = 30.0,
) -> Report:
    """
    Read ``topic`` and its checkpoint topic from the start and verify them.

    Raises:
        LookupError: the topic does not exist.
        MissingDependencyError: confluent-kafka is not installed.
    """
    cp_topic = checkpoint_topic or f"{topic}.checkpoints"
    messages = _consume(bootstrap_servers, topic, timeout)
    try:
        notes = [
            (value.decode("utf-8", "replace"), f"{cp_topic}[{p}]@{o}")
            for p, o, _, value in _consume(bootstrap_servers, cp_topic, timeout)
        ]
    except LookupError:
        notes = []
    return verify_messages(topic, messages, notes, keyring, allow_unsealed=allow_unsealed)
