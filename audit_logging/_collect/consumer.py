"""
What the collector needs from a Kafka consumer client, written once for both back-ends.

:class:`Consumer` is the small surface the loop uses (``poll``, ``commit``, ``pause``,
``resume``, ``seek``, the assignment and the partition count of a topic), and
:class:`Record` the one shape a consumed record takes whichever client read it.
:func:`~audit_logging._collect.clients.make_consumer` builds the back-end named as the
Kafka sink names them (``"confluent"`` or ``"kafka-python"``), importing its client only then.

The defaults every collector starts from (the caller's ``consumer_config`` overrides
them): no auto-commit (offsets are committed by the loop, after the sink stored a
batch), ``auto_offset_reset="earliest"`` (a new group reads the topic from its
start, so nothing produced before the first collector started is skipped), and a
10 s session timeout, so a killed collector's partitions move to the others soon.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["BACKENDS", "Consumer", "Partition", "Record", "default_config"]

BACKENDS = ("confluent", "kafka-python")

Partition = tuple[str, int]
"""(topic, partition)."""


@dataclass(frozen=True, slots=True)
class Record:
    """
    One consumed record, the same whichever client read it.
    """

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...]

    @property
    def where(self) -> str:
        """
        ``<topic>[<partition>]@<offset>``, how findings and logs name a record.
        """
        return f"{self.topic}[{self.partition}]@{self.offset}"


def default_config(session_timeout: float = 10.0) -> dict[str, Any]:
    """
    The consumer options the collector starts from, in kafka-python's spelling.
    """
    session_ms = max(1000, int(session_timeout * 1000))
    return {
        "enable_auto_commit": False,
        "auto_offset_reset": "earliest",
        "session_timeout_ms": session_ms,
        "heartbeat_interval_ms": max(100, session_ms // 10),
    }


class Consumer:
    """
    A consumer-group member: what the collector's loop calls.

    ``on_change`` (given to ``make_consumer``) runs in the thread that polls
    whenever partitions are assigned or revoked, so the loop can reset what it
    derived from the old assignment (the verifier's streams).
    """

    def subscribe(self, topics: list[str]) -> None:
        """Join the group for ``topics``."""
        raise NotImplementedError

    def poll(self, max_records: int, timeout: float) -> list[Record]:
        """Up to ``max_records`` records, waiting at most ``timeout`` seconds for the first."""
        raise NotImplementedError

    def commit(self, offsets: Mapping[Partition, int]) -> None:
        """
        Commit ``offsets`` (the next offset to read, per partition) and wait for the answer.

        Raises:
            ConnectionError: the commit failed (the partition moved, the broker is down).
        """
        raise NotImplementedError

    def assignment(self) -> set[Partition]:
        """The partitions this member holds now."""
        raise NotImplementedError

    def pause(self, partitions: set[Partition]) -> None:
        """Stop fetching from ``partitions`` (they stay assigned)."""
        raise NotImplementedError

    def resume(self, partitions: set[Partition]) -> None:
        """Fetch from ``partitions`` again."""
        raise NotImplementedError

    def seek(self, partition: Partition, offset: int) -> None:
        """Read ``partition`` from ``offset`` next (a record given back)."""
        raise NotImplementedError

    def partition_count(self, topic: str) -> int:
        """Partitions of ``topic`` (0 when unknown)."""
        raise NotImplementedError

    def close(self) -> None:
        """Leave the group (its partitions move to the other members now) and disconnect."""
        raise NotImplementedError
