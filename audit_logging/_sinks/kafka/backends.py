"""
The two producer back-ends behind :class:`~audit_logging._sinks.kafka.handler.KafkaHandler`.

Both offer the same small surface (``start``, ``send`` with a completion
callback, ``flush``, ``close``) so the handler's delivery accounting is written
once. ``kafka-python`` is the default (pure Python, about 75 us of CPU per
``send``); ``confluent-kafka`` (librdkafka) is the choice for real volume.

Configuration is given in kafka-python's spelling (``linger_ms``); the
confluent back-end translates it to librdkafka's (``linger.ms``) and passes
dotted keys through unchanged, so one ``producer_config`` works for both.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import threading
import time
import weakref
from collections.abc import Callable, Mapping
from typing import Any, cast

from audit_logging.exceptions import MissingDependencyError

__all__ = [
    "Backend",
    "ConfluentBackend",
    "DoneCallback",
    "KafkaPythonBackend",
    "is_too_large",
    "make_backend",
    "to_librdkafka",
]

DoneCallback = Callable[[object], None]
"""
Called once per record with the error when it failed, or with anything that is not an
exception (``None``, the client's record metadata) when the broker acknowledged it.

kafka-python calls it directly (``future.add_both(done)``): wrapping it would cost
two ``functools.partial`` objects and a frame per record on the client's sender
thread, about 10% of the end-to-end throughput.
"""

_RENAMES = {
    "sasl_plain_username": "sasl.username",
    "sasl_plain_password": "sasl.password",
    "ssl_cafile": "ssl.ca.location",
    "ssl_certfile": "ssl.certificate.location",
    "ssl_keyfile": "ssl.key.location",
    "ssl_password": "ssl.key.password",
    "ssl_crlfile": "ssl.crl.location",
    "ssl_check_hostname": "ssl.endpoint.identification.algorithm",
    "max_request_size": "message.max.bytes",
    "bootstrap_servers": "bootstrap.servers",
}
_INLINE_QUIET = 0.02  # seconds without a send before the poller serves reports again
_KAFKA_PYTHON_ONLY = frozenset({"max_block_ms", "api_version", "bootstrap_timeout_ms"})


def to_librdkafka(config: Mapping[str, Any]) -> dict[str, Any]:
    """
    Translate kafka-python option names to librdkafka's; dotted names pass through.
    """
    out: dict[str, Any] = {}
    for key, value in config.items():
        if "." in key:
            out[key] = value
        elif key in _KAFKA_PYTHON_ONLY:
            continue
        elif key == "ssl_check_hostname":
            out["ssl.endpoint.identification.algorithm"] = "https" if value else "none"
        else:
            out[_RENAMES.get(key, key.replace("_", "."))] = value
    return out


def is_too_large(exc: BaseException) -> bool:
    """
    True for "record too large" errors of either client (never worth retrying).
    """
    name = type(exc).__name__
    if name in ("MessageSizeTooLargeError", "RecordListTooLargeError"):
        return True
    args = getattr(exc, "args", ())
    code = getattr(args[0], "code", None) if args else None
    if callable(code):
        try:
            from confluent_kafka import KafkaError

            return code() in (KafkaError.MSG_SIZE_TOO_LARGE, KafkaError.RECORD_LIST_TOO_LARGE)
        except ImportError:  # pragma: no cover - the error came from confluent_kafka
            return False
    return False


class Backend:
    """
    What the handler needs from a producer client.
    """

    max_request_size: int = 1_048_576

    def start(self) -> None:
        """Connect now (rather than at the first send); failures raise."""
        raise NotImplementedError

    def send(
        self,
        topic: str,
        key: bytes,
        value: bytes,
        headers: list[tuple[str, bytes]],
        done: DoneCallback,
    ) -> None:
        """
        Hand one record to the client; ``done`` runs when the broker acknowledged or failed it.

        Raises when the client refuses the record outright (buffer full past ``max_block_ms``,
        closed producer, unknown topic).
        """
        raise NotImplementedError

    def record_failed(self, exc: BaseException) -> None:
        """A record's delivery failed with ``exc`` (the client's thread); a hook, no-op here."""

    def kick(self) -> None:
        """Send what is batched now instead of after ``linger_ms`` (does not wait)."""
        raise NotImplementedError

    def close(self, timeout: float) -> None:
        """Flush up to ``timeout`` seconds, then fail the rest (their ``done`` gets an error)."""
        raise NotImplementedError


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
        self._retiring: weakref.WeakSet[Any] = weakref.WeakSet()
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

    def start(self) -> None:
        self._current()

    def send(
        self,
        topic: str,
        key: bytes,
        value: bytes,
        headers: list[tuple[str, bytes]],
        done: DoneCallback,
    ) -> None:
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
        threading.Thread(
            target=self._replace, args=(producer,), name="audit-kafka-reset", daemon=True
        ).start()

    def kick(self) -> None:
        producer = self._producer
        if producer is not None:
            # flush(0) marks every batch ready and wakes the sender, then times out at once.
            with contextlib.suppress(self._kafka.errors.KafkaTimeoutError):
                producer.flush(timeout=0)

    def close(self, timeout: float) -> None:
        with self._lock:
            producer, self._producer = self._producer, None
        if producer is not None:
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


class ConfluentBackend(Backend):
    """
    confluent-kafka's ``Producer`` (librdkafka) with a thread serving delivery reports.

    With ``inline_reports`` (the handler's async mode) the sending thread also
    serves the reports that are ready after each ``produce`` (``poll(0)``, as a
    bare produce loop does), and the poller thread steps aside while sends keep
    coming: every report served on another thread costs a GIL hand-over between
    the two, which halved the throughput. The poller serves what is left once the
    sends pause (and everything in sync mode, where the sender waits instead).
    """

    def __init__(
        self,
        bootstrap_servers: str | list[str],
        config: Mapping[str, Any],
        *,
        inline_reports: bool = False,
    ) -> None:
        try:
            import confluent_kafka
        except ImportError as exc:
            raise MissingDependencyError("confluent-kafka", "kafka-fast") from exc
        self._ck = confluent_kafka
        self._max_block = float(config.get("max_block_ms", 5000)) / 1000.0
        conf = to_librdkafka(config)
        servers = bootstrap_servers
        conf["bootstrap.servers"] = servers if isinstance(servers, str) else ",".join(servers)
        self.max_request_size = int(conf.get("message.max.bytes", 1_000_000))
        # librdkafka hashes keys with CRC32 by default; murmur2 is what kafka-python and
        # the Java client use, so a key lands in the same partition whichever back-end.
        conf.setdefault("partitioner", "murmur2_random")
        # librdkafka logs to stderr unless given a logger; served by the poller thread.
        conf.setdefault("logger", logging.getLogger("confluent_kafka.producer"))
        try:
            self._producer = confluent_kafka.Producer(conf)
        except confluent_kafka.KafkaException as exc:
            error = exc.args[0] if exc.args else exc
            text = error.str() if hasattr(error, "str") else str(error)
            raise ValueError(f"invalid confluent-kafka producer configuration: {text}") from exc
        self._inline = inline_reports
        self._last_send = 0.0
        self._stop = threading.Event()
        self._poller = threading.Thread(target=self._poll, name="audit-kafka-delivery", daemon=True)
        self._poller.start()

    def _poll(self) -> None:
        stop = self._stop
        while not stop.is_set():
            if self._inline and time.monotonic() - self._last_send < _INLINE_QUIET:
                stop.wait(_INLINE_QUIET)  # the sender serves the reports meanwhile
                continue
            self._producer.poll(0.05)

    def start(self) -> None:
        self._producer.list_topics(timeout=self._max_block)

    def send(
        self,
        topic: str,
        key: bytes,
        value: bytes,
        headers: list[tuple[str, bytes]],
        done: DoneCallback,
    ) -> None:
        producer = self._producer
        report = functools.partial(self._report, done)
        hdrs = cast("list[tuple[str, str | bytes | None]]", headers)  # no copy: lists are invariant
        deadline = None
        while True:
            try:
                producer.produce(topic, value=value, key=key, headers=hdrs, on_delivery=report)
                break
            except BufferError:
                # The local queue is full: serve delivery reports until there is room.
                now = time.monotonic()
                if deadline is None:
                    deadline = now + self._max_block
                elif now >= deadline:
                    raise
                producer.poll(0.01)
        if self._inline:
            self._last_send = time.monotonic()
            producer.poll(0)

    def _report(self, done: DoneCallback, err: Any, _msg: Any) -> None:
        done(None if err is None else self._ck.KafkaException(err))

    def kick(self) -> None:
        self._producer.poll(0)

    def close(self, timeout: float) -> None:
        try:
            self._producer.flush(timeout)
        finally:
            self._stop.set()
            if self._poller is not threading.current_thread():
                self._poller.join(1.0)
            # Records still queued are purged; their delivery reports fail them.
            self._producer.purge()
            self._producer.flush(0)


def make_backend(
    backend: str,
    bootstrap_servers: str | list[str],
    config: Mapping[str, Any],
    *,
    inline_reports: bool = False,
) -> Backend:
    """
    Build the back-end named ``backend`` ("kafka-python" or "confluent").

    ``inline_reports``: the sending thread serves ready delivery reports itself
    (confluent only; the handler asks for it in async mode).

    Raises:
        ValueError: an unknown back-end name.
        MissingDependencyError: its client library is not installed.
    """
    if backend == "kafka-python":
        return KafkaPythonBackend(bootstrap_servers, config)
    if backend == "confluent":
        return ConfluentBackend(bootstrap_servers, config, inline_reports=inline_reports)
    raise ValueError(f"backend must be 'kafka-python' or 'confluent', got {backend!r}")
