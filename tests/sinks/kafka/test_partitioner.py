"""
Tests for audit_logging._sinks.kafka.partitioner: the murmur2 key hash and KeyHashPartitioner.

The hash is checked against kafka-python's own murmur2 (itself checked against the
Java client), and the partitions against a bare kafka-python producer with its
default partitioner and against the confluent back-end, on librdkafka's mock broker.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

pytest.importorskip("kafka")
pytest.importorskip("confluent_kafka")

from kafka import KafkaProducer
from kafka.partitioner.default import murmur2 as kafka_murmur2

from audit_logging._sinks.kafka import partitioner as _kafka_partitioner
from audit_logging._sinks.kafka.partitioner import KeyHashPartitioner, murmur2
from audit_logging.events import new_event
from audit_logging.sinks.kafka import KafkaHandler
from tests.sinks.kafka_fixtures import MockBroker, consume_all, unique_topic

SEED = 0x9747B28C


@given(st.binary(max_size=300))
def test_murmur2_equals_kafka_pythons(data: bytes) -> None:
    """Every length (all four tails) and byte value hashes as kafka-python's loop does."""
    assert murmur2(data) == kafka_murmur2(data)
    assert murmur2(bytearray(data)) == kafka_murmur2(data)
    assert murmur2(memoryview(data)) == kafka_murmur2(data)


@given(st.binary(max_size=300))
def test_compiled_murmur2_equals_the_pure_one(data: bytes) -> None:
    """The murmurhash2 package (the kafka extra) gives the same hash with Kafka's seed."""
    compiled = pytest.importorskip("murmurhash2").murmurhash2
    assert compiled(data, SEED) == murmur2(data)


def test_known_java_client_values() -> None:
    """Values of org.apache.kafka.common.utils.Utils.murmur2 (unsigned), from its test suite."""
    # Utils.murmur2("21".getBytes()) == -973932308 and ("foobar") == -790332482
    assert murmur2(b"21") == -973932308 & 0xFFFFFFFF
    assert murmur2(b"foobar") == -790332482 & 0xFFFFFFFF
    assert murmur2(b"a-little-bit-long-string") == -985981536 & 0xFFFFFFFF
    assert murmur2(b"a-little-bit-longer-string") == -1486304829 & 0xFFFFFFFF
    assert murmur2(b"abc") == 479470107


def _partitions_of_keys(bootstrap: str, topic: str) -> dict[bytes, int]:
    return {m.key(): m.partition() for m in consume_all(bootstrap, topic)}


@pytest.fixture
def producer(mock_broker: MockBroker) -> Iterator[Any]:
    """A bare kafka-python producer with its default partitioner."""
    made = KafkaProducer(bootstrap_servers=mock_broker.bootstrap, api_version=(2, 0))
    yield made
    made.close(5)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("compiled", [True, False], ids=["murmurhash2", "pure-python"])
def test_partitions_match_kafka_pythons_default_and_the_confluent_backend(
    mock_broker: MockBroker, producer: Any, monkeypatch: pytest.MonkeyPatch, compiled: bool
) -> None:
    """
    300 events: our kafka-python back-end, a bare producer with DefaultPartitioner
    and the confluent back-end (murmur2_random) put every key in the same partition.
    """
    if not compiled:
        monkeypatch.setattr(_kafka_partitioner, "_compiled", None)
    events = [new_event("data_read", "tests", {"i": i}) for i in range(300)]
    topics = {name: unique_topic(name) for name in ("ours", "bare", "confluent")}
    ours = KafkaHandler(mock_broker.bootstrap, topics["ours"], api_version=(2, 0), async_send=True)
    fast = KafkaHandler(
        mock_broker.bootstrap, topics["confluent"], backend="confluent", async_send=True
    )
    try:
        for evt in events:
            ours.write_event(evt)
            fast.write_event(evt)
            producer.send(topics["bare"], key=evt.id.encode(), value=evt.to_json_bytes())
        ours.flush()
        fast.flush()
        producer.flush(10)
    finally:
        ours.close()
        fast.close()
    placed = {name: _partitions_of_keys(mock_broker.bootstrap, t) for name, t in topics.items()}
    assert len(placed["bare"]) == 300
    assert len(set(placed["bare"].values())) == 4  # the mock's 4 partitions are all used
    assert placed["ours"] == placed["bare"]
    assert placed["confluent"] == placed["bare"]


@pytest.mark.timeout(30)
def test_records_without_a_key_still_go_to_a_partition(mock_broker: MockBroker) -> None:
    """A null key falls back to kafka-python's default (a random available partition)."""
    topic = unique_topic()
    producer = KafkaProducer(
        bootstrap_servers=mock_broker.bootstrap,
        api_version=(2, 0),
        partitioner=KeyHashPartitioner(),
    )
    try:
        metadata = [producer.send(topic, value=b'{"n": %d}' % i).get(10) for i in range(20)]
    finally:
        producer.close(5)
    assert {m.partition for m in metadata} <= {0, 1, 2, 3}
    stored = [json.loads(m.value())["n"] for m in consume_all(mock_broker.bootstrap, topic)]
    assert sorted(stored) == list(range(20))


def test_a_user_partitioner_is_kept(mock_broker: MockBroker) -> None:
    """producer_config's partitioner wins over ours."""

    class First(KeyHashPartitioner):
        def partition(self, *args: Any, **kwargs: Any) -> int:
            return 0

    topic = unique_topic()
    handler = KafkaHandler(mock_broker.bootstrap, topic, api_version=(2, 0), partitioner=First())
    try:
        for i in range(10):
            handler.write_event(new_event("data_read", "tests", {"i": i}))
    finally:
        handler.close()
    assert {m.partition() for m in consume_all(mock_broker.bootstrap, topic)} == {0}
