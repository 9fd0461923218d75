"""
The confluent-kafka consumer: librdkafka's ``Consumer`` in a consumer group.

Options are given in kafka-python's spelling (``session_timeout_ms``) and translated
as the Kafka sink translates its producer's
(:func:`~audit_logging._sinks.kafka.confluent.to_librdkafka`); dotted librdkafka
names pass through. Offsets are never stored or committed by
librdkafka itself (``enable.auto.offset.store`` and ``enable.auto.commit`` off): only
:meth:`ConfluentConsumer.commit` moves them, after the sink stored the batch.
A record the client reports as an error (a broker going away, an unknown topic) is
logged and counted, never handed to the loop as data.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from audit_logging._collect.consumer import Consumer, Partition, Record
from audit_logging._sinks.kafka.confluent import to_librdkafka
from audit_logging.exceptions import MissingDependencyError

__all__ = ["ConfluentConsumer"]

_log = logging.getLogger("audit_logging.collector")


def _bytes(data: str | bytes | None) -> bytes | None:
    return data.encode() if isinstance(data, str) else data


class ConfluentConsumer(Consumer):
    """
    A consumer-group member on confluent-kafka.
    """

    def __init__(
        self,
        bootstrap_servers: str,
        group: str,
        config: Mapping[str, Any],
        on_change: Callable[[], None],
    ) -> None:
        try:
            import confluent_kafka
        except ImportError as exc:
            raise MissingDependencyError("confluent-kafka", "kafka-fast") from exc
        self._ck = confluent_kafka
        conf = to_librdkafka(config)
        conf["bootstrap.servers"] = bootstrap_servers
        conf["group.id"] = group
        conf["enable.auto.commit"] = False
        conf["enable.auto.offset.store"] = False
        # No Python logger by default: serving librdkafka's log events through one cost the
        # loop about 10% of its throughput; they go to stderr as librdkafka writes them.
        try:
            self._consumer = confluent_kafka.Consumer(conf)
        except confluent_kafka.KafkaException as exc:
            raise ValueError(f"invalid confluent-kafka consumer configuration: {exc}") from exc
        self._on_change = on_change
        self._assigned: set[Partition] = set()
        self.errors = 0

    def _assign(self, _consumer: Any, partitions: list[Any]) -> None:
        self._assigned |= {(p.topic, p.partition) for p in partitions}
        self._on_change()

    def _revoke(self, _consumer: Any, partitions: list[Any]) -> None:
        self._assigned -= {(p.topic, p.partition) for p in partitions}
        self._on_change()

    def subscribe(self, topics: list[str]) -> None:
        self._consumer.subscribe(
            topics, on_assign=self._assign, on_revoke=self._revoke, on_lost=self._revoke
        )

    def poll(self, max_records: int, timeout: float) -> list[Record]:
        out: list[Record] = []
        for m in self._consumer.consume(max_records, timeout):
            err = m.error()
            if err is not None:
                self.errors += 1
                _log.warning("collector: the Kafka client reports: %s", err)
                continue
            topic, partition, offset = m.topic(), m.partition(), m.offset()
            if topic is None or partition is None or offset is None:  # pragma: no cover
                continue
            raw: Any = m.headers() or ()
            headers = tuple((str(h[0]), h[1]) for h in raw if isinstance(h[1], bytes))
            key, value = m.key(), m.value()
            out.append(Record(topic, partition, offset, _bytes(key), _bytes(value), headers))
        return out

    def commit(self, offsets: Mapping[Partition, int]) -> None:
        tps = [self._ck.TopicPartition(tp[0], tp[1], o) for tp, o in offsets.items()]
        try:
            done = self._consumer.commit(offsets=tps, asynchronous=False)
        except self._ck.KafkaException as exc:
            raise ConnectionError(f"offset commit failed: {exc}") from exc
        failed = [tp for tp in done or () if tp.error is not None]
        if failed:
            raise ConnectionError(
                "offset commit failed: "
                + ", ".join(f"{tp.topic}[{tp.partition}]: {tp.error}" for tp in failed)
            )

    def assignment(self) -> set[Partition]:
        return set(self._assigned)

    def _tps(self, partitions: set[Partition]) -> list[Any]:
        return [self._ck.TopicPartition(t, p) for t, p in partitions]

    def pause(self, partitions: set[Partition]) -> None:
        if partitions:
            self._consumer.pause(self._tps(partitions))

    def resume(self, partitions: set[Partition]) -> None:
        if partitions:
            self._consumer.resume(self._tps(partitions))

    def seek(self, partition: Partition, offset: int) -> None:
        self._consumer.seek(self._ck.TopicPartition(partition[0], partition[1], offset))

    def partition_count(self, topic: str) -> int:
        try:
            info = self._consumer.list_topics(topic, timeout=5).topics.get(topic)
        except self._ck.KafkaException:
            return 0
        return 0 if info is None or info.error is not None else len(info.partitions)

    def close(self) -> None:
        self._consumer.close()
