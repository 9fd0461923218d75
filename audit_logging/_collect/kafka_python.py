"""
The kafka-python consumer: ``KafkaConsumer`` in a consumer group.

Offsets are never committed by the client (``enable_auto_commit`` off): only
:meth:`KafkaPythonConsumer.commit` moves them, after the sink stored the batch. The
rebalance listener tells the loop when the assignment changed. A client error in
``poll`` (a failed join) is logged and counted, and the next poll tries again.
Against librdkafka's mock broker, give ``api_version=(1, 0)``: with a newer
version the mock answers the second member's ``SyncGroup`` with ``INVALID_REQUEST``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from audit_logging._collect.consumer import Consumer, Partition, Record
from audit_logging.exceptions import MissingDependencyError

__all__ = ["KafkaPythonConsumer"]

_log = logging.getLogger("audit_logging.collector")


class KafkaPythonConsumer(Consumer):
    """
    A consumer-group member on kafka-python.
    """

    def __init__(
        self,
        bootstrap_servers: str,
        group: str,
        config: Mapping[str, Any],
        on_change: Callable[[], None],
    ) -> None:
        try:
            import kafka
        except ImportError as exc:
            raise MissingDependencyError("kafka-python", "kafka") from exc
        self._kafka = kafka
        conf = {k: v for k, v in config.items() if "." not in k}
        conf["enable_auto_commit"] = False
        known = set(getattr(kafka.KafkaConsumer, "DEFAULT_CONFIG", ()))
        unknown = sorted(k for k in conf if known and k not in known)
        if unknown:
            raise ValueError(f"unknown kafka-python consumer option(s): {', '.join(unknown)}")
        self._consumer = kafka.KafkaConsumer(
            bootstrap_servers=bootstrap_servers, group_id=group, **conf
        )
        self._on_change = on_change
        owner = self

        class Listener(kafka.ConsumerRebalanceListener):  # type: ignore[misc]
            def on_partitions_revoked(self, revoked: Any) -> None:
                owner._on_change()

            def on_partitions_assigned(self, assigned: Any) -> None:
                owner._on_change()

        self._listener = Listener()
        self.errors = 0

    def subscribe(self, topics: list[str]) -> None:
        # Metadata first: a leader that joins before it knows the topic's partitions
        # assigns nothing ("No partition metadata") and kafka-python may not rejoin soon.
        for topic in topics:
            try:
                self._consumer.partitions_for_topic(topic)
            except self._kafka.errors.KafkaError as exc:
                _log.warning("collector: no metadata for %s yet: %s", topic, exc)
        self._consumer.subscribe(topics, listener=self._listener)

    def poll(self, max_records: int, timeout: float) -> list[Record]:
        try:
            batches = self._consumer.poll(timeout_ms=int(timeout * 1000), max_records=max_records)
        except self._kafka.errors.KafkaError as exc:
            # A failed join or fetch: the next poll tries again; the loop must go on.
            self.errors += 1
            _log.warning("collector: the Kafka client reports: %s: %s", type(exc).__name__, exc)
            return []
        out: list[Record] = []
        for tp, records in batches.items():
            for r in records:
                headers = tuple((k, v) for k, v in r.headers or () if isinstance(v, bytes))
                out.append(Record(tp.topic, tp.partition, r.offset, r.key, r.value, headers))
        return out

    def commit(self, offsets: Mapping[Partition, int]) -> None:
        k = self._kafka
        data = {
            k.TopicPartition(t, p): k.structs.OffsetAndMetadata(o, "", -1)
            for (t, p), o in offsets.items()
        }
        try:
            self._consumer.commit(data)
        except k.errors.KafkaError as exc:
            raise ConnectionError(f"offset commit failed: {type(exc).__name__}: {exc}") from exc

    def assignment(self) -> set[Partition]:
        return {(tp.topic, tp.partition) for tp in self._consumer.assignment()}

    def _tps(self, partitions: set[Partition]) -> list[Any]:
        return [self._kafka.TopicPartition(t, p) for t, p in partitions]

    def pause(self, partitions: set[Partition]) -> None:
        self._consumer.pause(*self._tps(partitions))

    def resume(self, partitions: set[Partition]) -> None:
        self._consumer.resume(*self._tps(partitions))

    def seek(self, partition: Partition, offset: int) -> None:
        self._consumer.seek(self._kafka.TopicPartition(*partition), offset)

    def partition_count(self, topic: str) -> int:
        return len(self._consumer.partitions_for_topic(topic) or ())

    def close(self) -> None:
        self._consumer.close()
