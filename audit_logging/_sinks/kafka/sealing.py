"""
Integrity for the Kafka sink: integrity headers on every record, checkpoints on a topic.

The value stays the canonical JSON (consumers see the same bytes as without
integrity); the headers ``audit-stream``, ``audit-seq``, ``audit-prev`` (64 hex) and,
for a replayed spill, ``audit-replay: 1`` carry the fields, and the leaf covers
them and the value (:mod:`audit_logging._integrity.records`). Signed checkpoints
go to ``<topic>.checkpoints`` (value: the note, key: the stream id), produced and
acknowledged one by one.

Sync sends (the default) are sealed and committed one at a time under a lock,
so a record the broker refuses gives its number back: no gap. Async sends are
committed when handed to the client; one that fails later leaves a gap that
``verify`` names (the event itself is spilled by the bus and replayed, marked a
replay, with a new number).
"""

from __future__ import annotations

import os
import threading
from typing import Any

from audit_logging._integrity import Chain, Checkpoint, IntegritySettings, SigningKey
from audit_logging._integrity.chain import ChainSealer
from audit_logging._integrity.settings import IntegrityOption, resolve_integrity
from audit_logging._sinks.kafka.backend import Backend

__all__ = [
    "HEADER_PREV",
    "HEADER_REPLAY",
    "HEADER_SEQ",
    "HEADER_STREAM",
    "RecordSealer",
    "header_map",
    "make_record_sealer",
]

HEADER_STREAM = "audit-stream"
HEADER_SEQ = "audit-seq"
HEADER_PREV = "audit-prev"
HEADER_REPLAY = "audit-replay"
HEADERS_SIZE = 160
"""Bytes the integrity headers add to a record, at most (for the request-size check)."""


class TopicCheckpointStore:
    """
    Produce each checkpoint to the checkpoint topic and wait for its acknowledgement.
    """

    def __init__(self, backend: Backend, topic: str, timeout: float) -> None:
        self._backend = backend
        self.topic = topic
        self.timeout = timeout

    def write(self, note: str, checkpoint: Checkpoint) -> None:
        """
        Produce one checkpoint; raise when it is not acknowledged.
        """
        done = threading.Event()
        result: list[object] = []

        def ack(outcome: object) -> None:
            result.append(outcome)
            done.set()

        self._backend.send(self.topic, checkpoint.stream.encode(), note.encode(), [], ack)
        self._backend.kick()
        if not done.wait(self.timeout):
            raise TimeoutError(f"checkpoint not acknowledged by topic {self.topic!r}")
        if isinstance(result[0], BaseException):
            raise result[0]

    def close(self) -> None:
        """
        The handler closes the client.
        """


class RecordSealer(ChainSealer):
    """
    Seals the records of one Kafka handler into one stream (a forked child gets a new one).
    """

    def __init__(self, settings: IntegritySettings, backend: Backend, topic: str, wait: float):
        name = settings.checkpoints or f"{topic}.checkpoints"
        self.store = TopicCheckpointStore(backend, str(name), wait)
        self.chain: Chain = settings.chain(self.store)
        self.lock = threading.Lock()

    def seal(self, value: bytes, replay: bool) -> list[tuple[str, bytes]]:
        """
        Number one record; its integrity headers (commit or roll back next).
        """
        chain = self.chain
        seq, prev, _ = chain.seal(value, replay)
        headers = [
            (HEADER_STREAM, chain.stream_bytes),
            (HEADER_SEQ, b"%d" % seq),
            (HEADER_PREV, prev.hex().encode()),
        ]
        if replay:
            headers.append((HEADER_REPLAY, b"1"))
        return headers

    def commit(self, stored: bool) -> None:
        """
        The record sealed last was (or, sync only, was not) accepted.
        """
        self.chain.commit_one(stored)

    def close_within(self, timeout: float) -> None:
        """
        Write the final checkpoint, waiting at most ``timeout`` seconds for it (the
        handler's ``close_timeout`` bounds its close, checkpoint included).
        """
        self.store.timeout = min(self.store.timeout, timeout)
        self.close()


def header_map(headers: Any) -> dict[str, bytes]:
    """
    A consumed record's headers as a dict (either client's shape).
    """
    out: dict[str, bytes] = {}
    for name, value in headers or ():
        if isinstance(value, bytes):
            out[name] = value
    return out


def make_record_sealer(
    integrity: IntegrityOption,
    key: SigningKey | str | os.PathLike[str] | None,
    backend: Backend,
    topic: str,
    wait: float,
) -> RecordSealer | None:
    """
    The sealer the handler's options ask for (a key implies ``integrity``), or None.
    """
    settings = resolve_integrity(integrity, key)
    return None if settings is None else RecordSealer(settings, backend, topic, wait)
