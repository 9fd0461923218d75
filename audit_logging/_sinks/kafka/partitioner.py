"""
Kafka's murmur2 key hash and a partitioner on it for the kafka-python back-end.

Why: every audit record is keyed (by event id or context id), and kafka-python
hashes keys with a pure-Python murmur2 loop (about 5 us for a 36-byte id, ~8% of
the CPU of a send) and, per record, also builds and sorts the topic's partition
set and a list of available partitions that a keyed record never uses.
:class:`KeyHashPartitioner` picks exactly the partition kafka-python's
``DefaultPartitioner`` (and the Java client) would pick: same hash, same
``& 0x7fffffff``, same index into the sorted partition ids. It only does less
work: the hash comes from the ``murmurhash2`` package (compiled, 0.16 us; part
of the ``kafka`` extra), or where that is not installed from :func:`murmur2`
below (2.6 us: 4-byte words unpacked in C), and the sorted partitions are reused
until the topic's partition set changes. Records without a key go to the default
partitioner unchanged.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any

from kafka.partitioner import DefaultPartitioner, Partitioner

_compiled: Callable[[bytes, int], int] | None
try:
    from murmurhash2 import murmurhash2 as _compiled
except ImportError:  # pragma: no cover - the kafka extra installs it
    _compiled = None

__all__ = ["KeyHashPartitioner", "murmur2"]

_M = 0x5BD1E995
_SEED = 0x9747B28C
_MASK = 0xFFFFFFFF
_words = struct.Struct("<I").iter_unpack


def murmur2(data: bytes | bytearray | memoryview) -> int:
    """
    The 32-bit murmur2 hash of ``data`` as Kafka computes it (unsigned).

    Equal to ``kafka.partitioner.default.murmur2`` for every input (tested).
    """
    length = len(data)
    h = _SEED ^ length
    whole = length & ~3
    for (word,) in _words(data[:whole]):
        k = (word * _M) & _MASK
        h = ((h * _M) & _MASK) ^ (((k ^ (k >> 24)) * _M) & _MASK)
    extra = length & 3
    if extra:
        if extra == 3:
            h ^= data[whole + 2] << 16
        if extra >= 2:
            h ^= data[whole + 1] << 8
        h = ((h ^ data[whole]) * _M) & _MASK
    h ^= h >> 13
    h = (h * _M) & _MASK
    return h ^ (h >> 15)


class KeyHashPartitioner(Partitioner):  # type: ignore[misc]
    """
    kafka-python's ``DefaultPartitioner``, cheaper for keyed records.
    """

    def __init__(self) -> None:
        self._default = DefaultPartitioner()
        self._order: dict[str, tuple[set[int], list[int]]] = {}

    def partition(  # noqa: PLR0917 - kafka-python's signature
        self,
        topic: str,
        key: Any,
        serialized_key: bytes | None,
        value: Any,
        serialized_value: bytes | None,
        cluster: Any,
    ) -> int:
        """
        The partition of a record: murmur2 of its key over the sorted partition ids.

        Raises:
            ValueError: the topic is not in the cluster metadata (as the default does).
        """
        if serialized_key is None:
            default = self._default.partition
            return int(default(topic, key, serialized_key, value, serialized_value, cluster))
        partitions = cluster.partitions_for_topic(topic)
        if not partitions:
            raise ValueError(f"Topic {topic} not found in ClusterMetadata")
        order = self._order.get(topic)
        if order is None or order[0] != partitions:
            order = (partitions, sorted(partitions))
            self._order[topic] = order
        if _compiled is not None and serialized_key.__class__ is bytes:
            h = _compiled(serialized_key, _SEED)
        else:
            h = murmur2(serialized_key)
        return order[1][(h & 0x7FFFFFFF) % len(partitions)]
