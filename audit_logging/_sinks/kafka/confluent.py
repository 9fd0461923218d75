"""
The confluent-kafka back-end: librdkafka's ``Producer``, the choice for real volume.

Configuration is given in kafka-python's spelling (``linger_ms``);
:func:`to_librdkafka` translates it to librdkafka's (``linger.ms``) and passes
dotted keys through unchanged, so one ``producer_config`` works for both back-ends.
librdkafka's errors (``KafkaException``, and ``BufferError`` for a full local queue)
are translated here and nowhere else (:meth:`ConfluentBackend.translate`); a
configuration librdkafka refuses is a ``ValueError`` at construction.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Mapping
from typing import Any, cast

from audit_logging._sinks.kafka.backend import Backend, DoneCallback, RecordTooLarge
from audit_logging._threads import new_thread
from audit_logging.exceptions import KafkaDeliveryError, MissingDependencyError

__all__ = ["ConfluentBackend", "to_librdkafka"]

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
        self.client_error_types = (confluent_kafka.KafkaException, BufferError)
        self._too_large = (
            confluent_kafka.KafkaError.MSG_SIZE_TOO_LARGE,
            confluent_kafka.KafkaError.RECORD_LIST_TOO_LARGE,
        )
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
        self._poller = new_thread(self._poll, "audit-kafka-delivery")
        self._poller.start()

    def _poll(self) -> None:
        stop = self._stop
        while not stop.is_set():
            if self._inline and time.monotonic() - self._last_send < _INLINE_QUIET:
                stop.wait(_INLINE_QUIET)  # the sender serves the reports meanwhile
                continue
            self._producer.poll(0.05)

    def translate(self, exc: BaseException) -> KafkaDeliveryError:
        """
        librdkafka's errors: ``MSG_SIZE_TOO_LARGE`` and ``RECORD_LIST_TOO_LARGE`` are
        :class:`RecordTooLarge`.
        """
        args = getattr(exc, "args", ())
        code = getattr(args[0], "code", None) if args else None
        if callable(code) and code() in self._too_large:
            error = RecordTooLarge(str(exc))
            error.__cause__ = exc
            return error
        return super().translate(exc)

    def start(self) -> None:
        with self.client_errors():
            self._producer.list_topics(timeout=self._max_block)

    def send(
        self,
        topic: str,
        key: bytes,
        value: bytes,
        headers: list[tuple[str, bytes]],
        done: DoneCallback,
    ) -> None:
        with self.client_errors():
            self._produce(topic, key, value, headers, done)

    def _produce(
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
        with self.client_errors():
            self._producer.poll(0)

    def abandon(self) -> None:
        """
        Purge librdkafka's queues (queued and in flight): a ``flush`` waiting on a
        frozen broker then returns, the records failed with ``_PURGE_*``.
        """
        with self.client_errors():
            self._producer.purge()

    def close(self, timeout: float) -> None:
        with self.client_errors():
            try:
                self._producer.flush(timeout)
            finally:
                self._stop.set()
                if self._poller is not threading.current_thread():
                    self._poller.join(1.0)
                # Records still queued are purged; their delivery reports fail them.
                self._producer.purge()
                self._producer.flush(0)
