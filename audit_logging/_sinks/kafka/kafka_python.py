"""
The kafka-python back-end: ``KafkaProducer``, created lazily and replaced after an expired batch.

kafka-python is the default client: pure Python, about 75 us of CPU per ``send``.
Its errors (``kafka.errors.KafkaError`` and subclasses) are translated here and
nowhere else (:meth:`KafkaPythonBackend.translate`).
"""

from __future__ import annotations

import contextlib
import threading
import time
import weakref
from collections.abc import Mapping
from typing import Any

from audit_logging._sinks.kafka.backend import Backend, DoneCallback, RecordTooLarge
from audit_logging._threads import new_thread
from audit_logging.exceptions import KafkaDeliveryError, MissingDependencyError

__all__ = ["KafkaPythonBackend"]


class KafkaPythonBackend(Backend):
    """
    kafka-python's ``KafkaProducer``, created lazily and replaced after an expired batch.

    Why replace it: when a batch that had been sent expires
    (``delivery_timeout_ms``) during an outage, kafka-python 3.0 resets the
    idempotent producer id, and its sender then skips both sending and expiring
    until a new id arrives, which does not happen: every later record would wait
    forever. So the first expiry starts a short thread that force-closes the
    producer (its remaining records fail, and the handler hands them to the bus to
    spill); the next record builds a fresh producer with a new producer id.
    """

    def __init__(self, bootstrap_servers: str | list[str], config: Mapping[str, Any]) -> None:
        try:
            import kafka
        except ImportError as exc:
            raise MissingDependencyError("kafka-python", "kafka") from exc
        from audit_logging._sinks.kafka.partitioner import KeyHashPartitioner

        self._kafka = kafka
        self.client_error_types = (kafka.errors.KafkaError,)
        self._config = dict(config)
        producer = kafka.KafkaProducer
        known = {
            *getattr(producer, "DEFAULT_CONFIG", ()),
            *getattr(producer, "DEPRECATED_CONFIGS", ()),
        }
        unknown = sorted(key for key in self._config if known and key not in known)
        if unknown:
            # KafkaProducer is built lazily: without this check a typo would only show
            # at the first event, as a failed delivery.
            raise ValueError(
                f"unknown kafka-python producer option(s): {', '.join(unknown)} "
                "(spell them as kafka-python does, e.g. linger_ms)"
            )
        # Same partitions as kafka-python's default, at less CPU per keyed record.
        self._config.setdefault("partitioner", KeyHashPartitioner())
        self._config["bootstrap_servers"] = bootstrap_servers
        self.max_request_size = int(self._config.get("max_request_size", 1_048_576))
        self._lock = threading.Lock()
        self._producer: Any = None
        self._too_large = (
            kafka.errors.MessageSizeTooLargeError,
            kafka.errors.RecordListTooLargeError,
        )
        self._retiring: weakref.WeakSet[Any] = weakref.WeakSet()
        self._closing: Any = None  # the producer close() is shutting down (for abandon)
        # The current producer and when it was made, read together (one attribute).
        self._born: tuple[Any, float] = (None, 0.0)
        self._expiry = float(self._config.get("delivery_timeout_ms", 120_000)) / 1000.0

    def _current(self) -> Any:
        producer = self._producer
        if producer is not None:
            return producer
        with self._lock:
            if self._producer is None:
                self._producer = self._kafka.KafkaProducer(**self._config)
                self._born = (self._producer, time.monotonic())
            return self._producer

    def _replace(self, producer: Any) -> None:
        """
        Retire a producer whose idempotent state is lost (runs on its own thread).
        """
        with self._lock:
            if self._producer is producer:
                self._producer = None
        self._shutdown(producer, 0.0)

    def translate(self, exc: BaseException) -> KafkaDeliveryError:
        """
        kafka-python's errors: a record over ``max_request_size`` is :class:`RecordTooLarge`.
        """
        if isinstance(exc, self._too_large):
            error = RecordTooLarge(str(exc))
            error.__cause__ = exc
            return error
        return super().translate(exc)

    def start(self) -> None:
        with self.client_errors():
            self._current()

    def send(
        self,
        topic: str,
        key: bytes,
        value: bytes,
        headers: list[tuple[str, bytes]],
        done: DoneCallback,
    ) -> None:
        with self.client_errors():
            producer = self._current()
            # No wrapper: add_both calls ``done`` with the metadata or the error.
            producer.send(topic, value=value, key=key, headers=headers).add_both(done)

    def record_failed(self, exc: BaseException) -> None:
        """
        A record failed (on the client's thread): retire the producer if its batches expire.

        Only a batch older than ``delivery_timeout_ms`` expires, so a timeout on a
        producer younger than that came from one already retired and is ignored.
        """
        if not isinstance(exc, self._kafka.errors.KafkaTimeoutError):
            return
        producer, born = self._born
        if (
            producer is None
            or producer in self._retiring
            or not producer.config.get("enable_idempotence")
            or time.monotonic() - born < self._expiry
        ):
            return
        self._retiring.add(producer)
        new_thread(self._replace, "audit-kafka-reset", producer).start()

    def kick(self) -> None:
        producer = self._producer
        if producer is not None:
            # flush(0) marks every batch ready and wakes the sender, then times out at once.
            with self.client_errors(), contextlib.suppress(self._kafka.errors.KafkaTimeoutError):
                producer.flush(timeout=0)

    def abandon(self) -> None:
        """
        Abort the sender of the current producer (and of one being closed): its
        batches fail, so a ``flush`` waiting on an unreachable broker returns.
        """
        for producer in (self._closing, self._producer):
            sender = getattr(producer, "_sender", None)
            if sender is not None and sender.is_alive():
                sender.force_close()

    def close(self, timeout: float) -> None:
        with self._lock:
            producer, self._producer = self._producer, None
        if producer is not None:
            self._closing = producer
            with self.client_errors():
                self._shutdown(producer, timeout)

    def _shutdown(self, producer: Any, timeout: float) -> None:
        """
        Close a producer within ``timeout``, failing what it could not send.

        ``KafkaProducer.close(timeout)`` flushes first and raises when the flush
        times out, leaving the sender thread running; so flush, then force the
        sender to abort what is left (their errbacks run), then close.
        """
        with contextlib.suppress(self._kafka.errors.KafkaTimeoutError):
            producer.flush(timeout=timeout)
        sender = getattr(producer, "_sender", None)
        if sender is not None and sender.is_alive():
            sender.force_close()
            if sender is not threading.current_thread():
                sender.join(1.0)
        with contextlib.suppress(Exception):
            producer.close(timeout=0)
